{#
    R7: suppression_state has exactly one row per channel for every user
    known from user_profiles or an accepted privacy event, and reason,
    suppressed_at and suppression_kind are set exactly when the channel is
    suppressed; an erasure is never shown for a user without one, nor for a
    deletion that is unverified, cancelled or exempt (R6, R13). Returns the
    offending users with the problem.
#}
{%- set channels = privacy_vocabulary().suppression.subtypes | reject('equalto', 'all') | list -%}

with

known_users as (

    select user_id from {{ ref('stg_user_profiles') }}
    union
    select user_id from {{ ref('int_privacy_events') }}

),

states as (

    select * from {{ ref('suppression_state') }}

),

rows_per_user as (

    select
        user_id,
        count(distinct channel) as channels,
        count(*) as state_rows
    from states
    group by user_id

),

erasing_requests as (

    -- R6 restated from int_dsr_requests, independently of int_erasures
    select request_id
    from {{ ref('int_dsr_requests') }}
    where
        request_type = 'deletion'
        and verified_at is not null
        and status != 'cancelled'
        and not is_exempt

),

incomplete as (

    select
        coalesce(known_users.user_id, rows_per_user.user_id) as user_id,
        'not one row per channel' as problem
    from known_users
    full outer join rows_per_user on known_users.user_id = rows_per_user.user_id
    where
        known_users.user_id is null
        or rows_per_user.user_id is null
        or rows_per_user.channels != {{ channels | length }}
        or rows_per_user.state_rows != {{ channels | length }}

),

inconsistent as (

    select
        user_id,
        'reason, suppressed_at and suppression_kind disagree with is_suppressed' as problem
    from states
    where
        is_suppressed != (reason is not null)
        or is_suppressed != (suppressed_at is not null)
        or is_suppressed != (suppression_kind is not null)
        or (reason = 'erasure') != (suppression_kind = 'erasure')

),

unfounded_erasures as (

    select
        states.user_id,
        'erasure without a verified, uncancelled, non-exempt deletion' as problem
    from states
    left join erasing_requests on states.request_id = erasing_requests.request_id
    where
        states.reason = 'erasure'
        and erasing_requests.request_id is null

),

final as (

    select * from incomplete
    union all
    select * from inconsistent
    union all
    select * from unfounded_erasures

)

select * from final
