{#
    The connector's sync runs, typed. An empty (typed) table until the
    connector's first sync creates customerio_sync_runs.
#}
with

source as (

    {{ source_or_empty('customerio', 'customerio_sync_runs') }}

),

final as (

    select
        -- ids
        nullif(trim(cast(run_id as {{ dbt.type_string() }})), '') as run_id,

        -- strings
        lower(trim(cast(target as {{ dbt.type_string() }}))) as target,  -- noqa: RF04
        lower(trim(cast(region as {{ dbt.type_string() }}))) as region,
        lower(trim(cast(status as {{ dbt.type_string() }}))) as status,

        -- booleans
        cast(dry_run as boolean) as is_dry_run,

        -- numbers
        cast(actions_read as bigint) as actions_read,
        cast(delivered as bigint) as actions_delivered,
        cast(rejected as bigint) as actions_rejected,
        cast(failed as bigint) as actions_failed,

        -- timestamps
        cast(started_at as timestamp) as started_at,
        cast(finished_at as timestamp) as finished_at

    from source

)

select * from final
