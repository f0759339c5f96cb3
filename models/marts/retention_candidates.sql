{#
    R15 (GDPR Art. 5(1)(e)): every person's data under every active
    retention policy of its category, when it expires and whether it is due
    at as_of, or which exception keeps it.
#}
{{ config(post_hook=["{{ keep_input_digests() }}"], **incremental_by_user_config()) }}
{#-
    Incremental by user (macros/incremental_by_user.sql): the users whose
    activity changed in int_user_data_activity, those whose legal holds or
    open requests differ from those this table was built from (per-user
    digests: a request that moved to another owner shows there too), and
    those whose data expired since the last as_of. A policy seed loaded
    with new rows recomputes everyone (the fingerprint).
-#}
{%- set input_digests -%}
    select user_id, 'legal_hold' as input, count(*) as input_rows, sum(hash(source_event_id)) as digest
    from {{ ref('int_legal_holds') }}
    where is_on_legal_hold
    group by user_id
    union all
    select user_id, 'open_request', count(*), sum(hash(request_id))
    from {{ ref('int_dsr_requests') }}
    where not is_closed
    group by user_id
{%- endset -%}
{%- set scope = user_scope(
    staged_event_types=[],
    changed_upstream=['int_user_data_activity'],
    input_digests=input_digests,
    judged_again=[
        'select user_id from ' ~ this ~ ' where retention_expires_at > __previous_as_of__'
        ~ ' and retention_expires_at <= ' ~ as_of()
    ],
) %}

with

policies as (

    select * from {{ ref('int_retention_policies') }}
    where is_active

),

activity as (

    select * from {{ ref('int_user_data_activity') }}
    where {{ in_user_scope('user_id', scope) }}

),

legal_holds as (

    select * from {{ ref('int_legal_holds') }}
    where is_on_legal_hold

),

-- open_dsr: any open request, of any type: its answer may need the data
people_with_open_requests as (

    select distinct user_id
    from {{ ref('int_dsr_requests') }}
    where not is_closed

),

candidates as (

    select
        activity.user_id,
        policies.policy_id,
        policies.data_category,
        policies.deletion_strategy,
        policies.retention_days,
        policies.legal_basis,
        activity.last_activity_at,
        {{ timestamp_add('day', 'policies.retention_days', 'activity.last_activity_at') }}
            as retention_expires_at,
        policies.honours_legal_hold and legal_holds.user_id is not null as is_held,
        policies.honours_open_dsr and people_with_open_requests.user_id is not null as is_awaiting_request
    from activity
    inner join policies
        on activity.data_category = policies.data_category
    left join legal_holds
        on activity.user_id = legal_holds.user_id
    left join people_with_open_requests
        on activity.user_id = people_with_open_requests.user_id

),

expiry as (

    select
        *,
        {{ as_of() }} >= retention_expires_at as is_expired
    from candidates

),

final as (

    select
        -- ids
        user_id,
        policy_id,

        -- strings
        data_category,
        deletion_strategy,
        legal_basis,
        -- a legal obligation to preserve outranks a pending request
        case
            when is_expired and is_held then 'legal_hold'
            when is_expired and is_awaiting_request then 'open_dsr'
        end as exclusion_reason,

        -- numbers
        retention_days,

        -- timestamps
        last_activity_at,
        retention_expires_at,

        -- booleans
        coalesce(is_expired, false) as is_expired,
        coalesce(is_expired and not is_held and not is_awaiting_request, false) as is_due

    from expiry

)

select * from final
