{#
    R14: the retention_policies seed, checked and typed. The check fails the
    build with a message naming every invalid row (see
    macros/retention_policies.sql); what reaches the select below is valid.
#}
{{ check_retention_policies(ref('retention_policies')) }}

with

seed as (

    select * from {{ ref('retention_policies') }}

),

normalised as (

    select
        trim(policy_id) as policy_id,
        lower(trim(data_category)) as data_category,
        cast(trim(retention_days) as bigint) as retention_days,
        lower(trim(deletion_strategy)) as deletion_strategy,
        -- '|legal_hold|open_dsr|': each exception is found by its delimiters
        concat('|', replace(lower(coalesce(exceptions, '')), ' ', ''), '|') as delimited_exceptions,
        trim(legal_basis) as legal_basis,
        lower(trim(is_active)) = 'true' as is_active
    from seed

),

final as (

    select
        -- ids
        policy_id,

        -- strings
        data_category,
        deletion_strategy,
        nullif(substr(delimited_exceptions, 2, length(delimited_exceptions) - 2), '') as exceptions,
        legal_basis,

        -- numbers
        retention_days,

        -- booleans
        delimited_exceptions like '%|legal_hold|%' as honours_legal_hold,
        delimited_exceptions like '%|open_dsr|%' as honours_open_dsr,
        is_active

    from normalised

)

select * from final
