{#
    One row per user_id: the most recently updated profile wins. Emails are
    trimmed and lower-cased; blanks become nulls. Rows without a user_id
    cannot belong to anyone: they are counted by a warning test, not kept.

    Incremental by user on DuckDB (replace_keys, which writes the users to
    the change log for int_user_data_activity and suppression_state): a run
    recomputes the users with a raw version that is new to the model and
    not older than the version it holds (an older version arriving late
    loses anyway), and drops the users left with no raw version (a profile
    deleted from raw: its email and phone must not outlive it here). On
    Spark (parquet, no delete) and Databricks a table of a million small
    rows is simply rebuilt, which drops them too (a merge would keep them:
    DECISIONS.md).
#}
{{ config(
    materialized='incremental' if target.type == 'duckdb' else 'table',
    incremental_strategy='replace_keys',
    unique_key='user_id',
    user_column='user_id',
    replace_rebuilt=target.type == 'duckdb',
    on_schema_change='fail',
) }}
{%- do log_every_user_when_rebuilt() %}

{%- set cleaned_profiles %}
    select
        -- ids
        {{ trimmed("user_id") }} as user_id,

        -- strings (PII)
        lower({{ trimmed("email") }}) as email,
        {{ trimmed("phone") }} as phone,
        {{ trimmed("first_name") }} as first_name,
        {{ trimmed("last_name") }} as last_name,
        upper({{ trimmed("country") }}) as country,

        -- timestamps
        created_at,
        updated_at,
        last_active_at

    from {{ source('raw', 'user_profiles') }}
{%- endset %}

{%- if is_incremental() %}
    {%- set changed_users -%}
        with cleaned as ({{ cleaned_profiles }})
        -- one join of every raw version with the stored row of its user
        select distinct coalesce(raw_versions.user_id, stored.user_id) as user_id
        from (select * from cleaned where user_id is not null) as raw_versions
        full outer join {{ this }} as stored
            on raw_versions.user_id = stored.user_id
        where
            -- a user left with no raw version: nothing to write (on DuckDB
            -- the stored row goes)
            raw_versions.user_id is null
            -- a user new to the model
            or stored.user_id is null
            -- a raw version new to the model and not older than the stored one
            or (
                (stored.updated_at is null or raw_versions.updated_at >= stored.updated_at)
                and (
                    raw_versions.email is distinct from stored.email
                    or raw_versions.phone is distinct from stored.phone
                    or raw_versions.first_name is distinct from stored.first_name
                    or raw_versions.last_name is distinct from stored.last_name
                    or raw_versions.country is distinct from stored.country
                    or raw_versions.created_at is distinct from stored.created_at
                    or raw_versions.updated_at is distinct from stored.updated_at
                    or raw_versions.last_active_at is distinct from stored.last_active_at
                )
            )
    {%- endset -%}
    {%- set rebuilt = record_rebuilt([], changed_users) -%}
    {%- set changed_users = changed_users if rebuilt is none else rebuilt_keys(rebuilt) -%}
{%- endif %}

with

cleaned as (

    {{ cleaned_profiles }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by user_id
            order by updated_at desc nulls last, created_at desc nulls last, email asc, phone asc
        ) as version_rank
    from cleaned
    where
        user_id is not null{% if is_incremental() %}
        and user_id in ({{ changed_users }}){% endif %}

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
