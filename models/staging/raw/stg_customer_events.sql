with

source as (

    select * from {{ source('raw', 'customer_events') }}

),

final as (

    select
        -- ids
        nullif(trim(event_id), '') as event_id,
        nullif(trim(user_id), '') as user_id,

        -- strings
        nullif(trim(event_name), '') as event_name,
        lower(nullif(trim(data_category), '')) as data_category,

        -- timestamps
        occurred_at

    from source

)

select * from final
