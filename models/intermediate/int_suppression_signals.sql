{#
    R6 (GDPR Art. 7(3), 17, 18, 21(3); CAN-SPAM; TCPA): every signal that
    suppresses or releases a channel (email, sms, push, in_app), one row per
    signal and channel, in the order suppression_state (R7) compares them:
    - preference_suppress: an active suppression whose reason is not a
      deliverability one; the channel's marketing consent withdrawn or
      expired (at the expiry); an objection or restriction request, any
      status but cancelled, on every channel;
    - deliverability_suppress: a hard (or untyped) bounce, a spam complaint,
      an invalid address; the Nth soft bounce since the latest explicit
      release (N = var soft_bounce_threshold);
    - explicit_release: a removed suppression (releases both kinds);
    - consent_release: a grant of the channel's marketing consent (releases
      preference suppression only);
    - erasure: a deletion request that erases (int_erasures), every channel.
    `all` means every channel.
#}
{{ config(**incremental_by_user_config()) }}
{#- Incremental by user (macros/incremental_by_user.sql): the users with new
    suppression or request events, those whose consent events changed in
    int_consent_events (a grant that lapsed since the last run included: a
    consent_expiry signal), and the owners of requests with a new event
    (R9: the owner is the user of a request's earliest event, which a later
    event need not carry). -#}
{%- set scope = user_scope(
    staged_event_types=['suppression', 'gdpr_request'],
    changed_upstream=['int_consent_events'],
    judged_again=[users_of_requests_changed_since_last_run()],
) %}

{%- set channels = privacy_vocabulary().suppression.subtypes | reject('equalto', 'all') | list -%}
{%- set known_reasons = ['unsubscribed', 'bounced', 'spam_complaint', 'gdpr_request',
                         'manual_suppression', 'invalid_address', 'sms_stop_keyword'] -%}
{%- set deliverability_reasons = ['bounced', 'spam_complaint', 'invalid_address'] -%}

with

channels as (

    {% for channel in channels %}
        select '{{ channel }}' as channel
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

suppression_events as (

    select
        event_id,
        user_id,
        event_subtype,
        status,
        reason,
        bounce_type,
        event_timestamp,
        processed_at
    from {{ ref('int_privacy_events') }}
    where event_type = 'suppression' and {{ in_user_scope('user_id', scope) }}

),

suppression_events_per_channel as (

    select
        suppression_events.*,
        channels.channel,
        coalesce(
            suppression_events.status = 'active'
            and suppression_events.reason = 'bounced'
            and suppression_events.bounce_type = 'soft',
            false
        ) as is_soft_bounce
    from suppression_events
    inner join channels
        on suppression_events.event_subtype in (channels.channel, 'all')

),

release_epochs as (

    select
        *,
        -- the number of explicit releases so far: soft bounces count anew after each
        sum(case when status = 'removed' then 1 else 0 end) over (
            partition by user_id, channel order by {{ earliest_first() }}
            rows between unbounded preceding and current row
        ) as release_epoch
    from suppression_events_per_channel

),

soft_bounces_counted as (

    select
        *,
        sum(case when is_soft_bounce then 1 else 0 end) over (
            partition by user_id, channel, release_epoch order by {{ earliest_first() }}
            rows between unbounded preceding and current row
        ) as soft_bounces_since_release
    from release_epochs

),

suppression_signals as (

    select
        user_id,
        channel,
        case
            when status = 'removed' then 'explicit_release'
            when is_soft_bounce then 'deliverability_suppress'
            when
                (reason = 'bounced' and coalesce(bounce_type, 'hard') = 'hard')
                or reason in {{ sql_values(deliverability_reasons) }}
                then 'deliverability_suppress'
            else 'preference_suppress'
        end as signal_kind,
        case
            when is_soft_bounce then 'soft_bounce_threshold'
            when reason in {{ sql_values(known_reasons) }} then reason
            else 'manual_suppression'
        end as reason,
        reason as stated_reason,
        'suppression_event' as signal_source,
        event_id as source_event_id,
        cast(null as {{ dbt.type_string() }}) as request_id,
        event_timestamp as signal_at,
        processed_at
    from soft_bounces_counted
    -- a soft bounce is a signal only when it is the Nth since the latest release
    where
        not is_soft_bounce
        or soft_bounces_since_release = {{ var('soft_bounce_threshold', 7) }}

),

marketing_consent_events as (

    select * from {{ ref('int_consent_events') }}
    where channel is not null and {{ in_user_scope('user_id', scope) }}

),

consent_signals as (

    select
        user_id,
        channel,
        case status
            when 'granted' then 'consent_release'
            else 'preference_suppress'
        end as signal_kind,
        case status
            when 'granted' then 'consent_granted'
            when 'withdrawn' then 'consent_withdrawn'
            when 'expired' then 'consent_expired'
        end as reason,
        reason as stated_reason,
        'consent_event' as signal_source,
        event_id as source_event_id,
        cast(null as {{ dbt.type_string() }}) as request_id,
        event_timestamp as signal_at,
        processed_at
    from marketing_consent_events
    -- pending is not consent: it neither releases nor suppresses
    where status in ('granted', 'withdrawn', 'expired')

),

consent_expiry_signals as (

    select
        user_id,
        channel,
        'preference_suppress' as signal_kind,
        'consent_expired' as reason,
        cast(null as {{ dbt.type_string() }}) as stated_reason,
        'consent_expiry' as signal_source,
        event_id as source_event_id,
        cast(null as {{ dbt.type_string() }}) as request_id,
        lapsed_at as signal_at,
        processed_at
    from marketing_consent_events
    where lapsed_at is not null

),

objections_and_restrictions as (

    select * from {{ ref('int_dsr_requests') }}
    where
        request_type in ('objection', 'restriction')
        and status != 'cancelled'
        and {{ in_user_scope('user_id', scope) }}

),

request_signals as (

    select
        requests.user_id,
        channels.channel,
        'preference_suppress' as signal_kind,
        requests.request_type as reason,
        cast(null as {{ dbt.type_string() }}) as stated_reason,
        'dsr_request' as signal_source,
        requests.received_event_id as source_event_id,
        requests.request_id,
        requests.received_at as signal_at,
        cast(null as timestamp) as processed_at
    from objections_and_restrictions as requests
    cross join channels

),

erasure_signals as (

    select
        erasures.user_id,
        channels.channel,
        'erasure' as signal_kind,
        'erasure' as reason,
        cast(null as {{ dbt.type_string() }}) as stated_reason,
        'erasure' as signal_source,
        cast(null as {{ dbt.type_string() }}) as source_event_id,
        erasures.request_id,
        erasures.erased_at as signal_at,
        cast(null as timestamp) as processed_at
    from {{ ref('int_erasures') }} as erasures
    cross join channels
    where {{ in_user_scope('erasures.user_id', scope) }}

),

signals as (

    select * from suppression_signals
    union all
    select * from consent_signals
    union all
    select * from consent_expiry_signals
    union all
    select * from request_signals
    union all
    select * from erasure_signals

),

sequenced as (

    select
        *,
        -- R3 order; a grant's own release comes before the expiry it carries
        row_number() over (
            partition by user_id, channel
            order by
                signal_at asc,
                processed_at asc nulls first,
                source_event_id asc nulls first,
                request_id asc nulls first,
                case signal_source when 'consent_expiry' then 1 else 0 end asc
        ) as signal_sequence
    from signals

),

final as (

    select
        -- ids
        user_id,
        source_event_id,
        request_id,

        -- strings
        channel,
        signal_kind,
        reason,
        stated_reason,
        signal_source,

        -- numbers
        cast(signal_sequence as bigint) as signal_sequence,

        -- timestamps
        signal_at,
        processed_at

    from sequenced

)

select * from final
