{#
    Behavioural events, one row per raw row, trimmed, with data_category
    lower-cased so retention policies (R14, R15) match it.

    Incremental by time slice of occurred_at (macros/incremental.sql): rows
    map one to one to raw rows, so a run recomputes the slices whose raw row
    count changed and replaces them (a slice whose raw rows were all
    deleted is emptied: empty_time_slices). On DuckDB the users of the
    replaced rows go to the change log, for int_user_data_activity.
#}
{{ config(
    materialized='incremental',
    on_schema_change='fail',
    user_column='user_id',
    **incremental_by_time_slice_config(time_column='occurred_at', partition_column='occurred_month')
) }}
{%- do log_every_user_when_rebuilt() %}

with

source as (

    select * from {{ source('raw', 'customer_events') }}
    {%- if is_incremental() %}
        {%- set changes = time_slice_changes(source('raw', 'customer_events'), 'occurred_at') %}
        {%- do record_rebuilt(changes.changed) %}
        {%- do empty_time_slices(changes.vanished) %}
    where {{ time_slice_filter('occurred_at', changes.changed) }}
    {%- endif %}

),

final as (

    select
        -- ids
        {{ trimmed("event_id") }} as event_id,
        {{ trimmed("user_id") }} as user_id,

        -- strings
        {{ trimmed("event_name") }} as event_name,
        lower({{ trimmed("data_category") }}) as data_category,

        -- timestamps
        occurred_at,

        -- storage: the month partition on Spark and Databricks (last, as
        -- Spark stores partition columns)
        {{ month_of('occurred_at') }} as occurred_month

    from source

)

select * from final
