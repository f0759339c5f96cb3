{#
    The dbt semantic layer's daily time spine (MetricFlow): one row per day
    over the days compliance_metrics_daily covers, from the first privacy
    day to as_of's day. No hub package: the days are the mart's.
#}
with

metric_days as (

    select metric_date from {{ ref('compliance_metrics_daily') }}

),

final as (

    select metric_date as date_day
    from metric_days

)

select * from final
