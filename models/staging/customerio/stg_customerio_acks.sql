{#
    R22: the connector's acknowledgements, typed. An empty (typed) table
    until the connector's first sync creates customerio_acks.
#}
with

source as (

    {{ source_or_empty('customerio', 'customerio_acks') }}

),

final as (

    select
        -- ids
        nullif(trim(cast(action_id as {{ dbt.type_string() }})), '') as action_id,
        nullif(trim(cast(run_id as {{ dbt.type_string() }})), '') as run_id,
        nullif(trim(cast(user_id as {{ dbt.type_string() }})), '') as user_id,

        -- strings
        lower(trim(cast(action_type as {{ dbt.type_string() }}))) as action_type,
        cast(payload as {{ dbt.type_string() }}) as payload,
        lower(trim(cast(status as {{ dbt.type_string() }}))) as status,
        cast(error as {{ dbt.type_string() }}) as error,

        -- numbers
        cast(http_status as bigint) as http_status,
        cast(attempts as bigint) as attempts,

        -- timestamps
        cast(sent_at as timestamp) as sent_at,
        cast(acked_at as timestamp) as acked_at

    from source

)

select * from final
