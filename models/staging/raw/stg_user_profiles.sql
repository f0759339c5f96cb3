{#
    One row per user_id: the most recently updated profile wins. Emails are
    trimmed and lower-cased; blanks become nulls. Rows without a user_id
    cannot belong to anyone: they are counted by a warning test, not kept.
#}
with

source as (

    select * from {{ source('raw', 'user_profiles') }}

),

cleaned as (

    select
        -- ids
        nullif(trim(user_id), '') as user_id,

        -- strings (PII)
        lower(nullif(trim(email), '')) as email,
        nullif(trim(phone), '') as phone,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        upper(nullif(trim(country), '')) as country,

        -- timestamps
        created_at,
        updated_at,
        last_active_at

    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by user_id
            order by updated_at desc nulls last, created_at desc nulls last, email asc, phone asc
        ) as version_rank
    from cleaned
    where user_id is not null

),

final as (

    select
        user_id,
        email,
        phone,
        first_name,
        last_name,
        country,
        created_at,
        updated_at,
        last_active_at
    from ranked
    where version_rank = 1

)

select * from final
