{#
    R7: for every known user (user_profiles or any accepted privacy event)
    and every channel (email, sms, push, in_app), whether they may be
    messaged on it at as_of, and why not. Suppressed when erased, or the
    latest preference suppression is later than the latest explicit or
    consent release, or the latest deliverability suppression is later than
    the latest explicit release. reason, suppressed_at and source come from
    the latest signal that holds the suppression (an erasure first).
#}
{{ config(**incremental_by_user_config()) }}
{#- Incremental by user (macros/incremental_by_user.sql): the users with any
    new privacy event (the users it knows), those whose signals changed (a
    lapsed grant and a request that moved to another owner included: the
    signals follow them), and those whose profile changed, appeared or went
    (the change log of stg_user_profiles). -#}
{%- set scope = user_scope(changed_upstream=['int_suppression_signals', 'stg_user_profiles']) %}
{%- set channels = privacy_vocabulary().suppression.subtypes | reject('equalto', 'all') | list -%}

with

channels as (

    {% for channel in channels %}
        select '{{ channel }}' as channel
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

known_users as (

    select user_id from {{ ref('stg_user_profiles') }}
    where {{ in_user_scope('user_id', scope) }}
    union
    select user_id from {{ ref('int_privacy_events') }}
    where {{ in_user_scope('user_id', scope) }}

),

signals as (

    select * from {{ ref('int_suppression_signals') }}
    where {{ in_user_scope('user_id', scope) }}

),

latest_signals as (

    -- sequence 0 stands for "never": every signal is numbered from 1
    select
        user_id,
        channel,
        coalesce(max(case when signal_kind = 'erasure' then signal_sequence end), 0)
            as latest_erasure,
        coalesce(max(case when signal_kind = 'preference_suppress' then signal_sequence end), 0)
            as latest_preference_suppress,
        coalesce(max(case when signal_kind = 'deliverability_suppress' then signal_sequence end), 0)
            as latest_deliverability_suppress,
        coalesce(max(case when signal_kind = 'explicit_release' then signal_sequence end), 0)
            as latest_explicit_release,
        coalesce(max(case when signal_kind = 'consent_release' then signal_sequence end), 0)
            as latest_consent_release
    from signals
    group by user_id, channel

),

holding as (

    select
        user_id,
        channel,
        case
            when latest_erasure > 0
                then latest_erasure
            when
                latest_preference_suppress > greatest(latest_explicit_release, latest_consent_release)
                and latest_deliverability_suppress > latest_explicit_release
                then greatest(latest_preference_suppress, latest_deliverability_suppress)
            when latest_preference_suppress > greatest(latest_explicit_release, latest_consent_release)
                then latest_preference_suppress
            when latest_deliverability_suppress > latest_explicit_release
                then latest_deliverability_suppress
        end as holding_signal_sequence
    from latest_signals

),

user_channels as (

    select
        known_users.user_id,
        channels.channel
    from known_users
    cross join channels

),

final as (

    select
        -- ids
        user_channels.user_id,
        signals.source_event_id,
        signals.request_id,

        -- strings
        user_channels.channel,
        signals.reason,
        signals.signal_kind as suppression_kind,

        -- booleans
        holding.holding_signal_sequence is not null as is_suppressed,

        -- timestamps
        signals.signal_at as suppressed_at

    from user_channels
    left join holding
        on
            user_channels.user_id = holding.user_id
            and user_channels.channel = holding.channel
    left join signals
        on
            holding.user_id = signals.user_id
            and holding.channel = signals.channel
            and holding.holding_signal_sequence = signals.signal_sequence

)

select * from final
