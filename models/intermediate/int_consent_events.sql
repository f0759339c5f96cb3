{#
    R4, R5 (GDPR Art. 7): every accepted consent event with the expiry of its
    grant, its place in the story of its (user, consent type) and its proof,
    computed in one window pass. consent_history (a view over this table),
    consent_state and the consent signals of int_suppression_signals all read
    it, so each consent rule lives here once:
    - expires_at: a grant's metadata['expires_at'], else the grant time plus
      the type's default_expiry_days (consent_purposes); null = never.
    - lapsed_at: when the grant's expiry falls before the next event (or at
      or before as_of for the latest event), the moment it lapsed; this
      closes the granted interval and opens an expired one.
#}
{{ config(user_scope_type_column='consent_type', **incremental_by_user_config()) }}
{#-
    Incremental by user and consent type (macros/incremental_by_user.sql):
    every row depends only on the events of its (user, consent type), so a
    run recomputes the pairs with new events and those whose latest grant's
    expiry as_of has now reached (R4: it lapses), not every type of their
    users.
-#}
{%- set scope = user_scope(
    staged_event_types=['consent'],
    judged_again=[
        'select user_id, consent_type from ' ~ this
        ~ ' where is_latest and lapsed_at is null and expires_at <= ' ~ as_of()
    ],
) %}

with

consent_events as (

    select
        event_id,
        user_id,
        event_subtype as consent_type,
        status,
        reason,
        requested_by,
        consent_version,
        consent_purpose,
        collection_method,
        ip_address,
        user_agent,
        event_timestamp,
        processed_at,
        expires_at as stated_expires_at
    from {{ ref('int_privacy_events') }}
    where event_type = 'consent' and {{ in_user_scope('user_id', scope, 'event_subtype') }}

),

purposes as (

    select
        consent_type,
        channel,
        default_expiry_days
    from {{ ref('consent_purposes') }}

),

with_expiry as (

    select
        consent_events.*,
        purposes.channel,
        -- R4: only a grant expires; pending, withdrawn and expired are not consent
        case
            when consent_events.status = 'granted'
                then coalesce(
                    consent_events.stated_expires_at,
                    {{ timestamp_add('day', 'purposes.default_expiry_days', 'consent_events.event_timestamp') }}
                )
        end as expires_at
    from consent_events
    left join purposes on consent_events.consent_type = purposes.consent_type

),

sequenced as (

    select
        *,
        row_number() over (
            partition by user_id, consent_type order by {{ earliest_first() }}
        ) as event_sequence,
        lead(event_timestamp) over (
            partition by user_id, consent_type order by {{ earliest_first() }}
        ) as next_event_at,
        lead(event_id) over (
            partition by user_id, consent_type order by {{ earliest_first() }}
        ) is null as is_latest,
        max(case when status = 'granted' then event_timestamp end) over (
            partition by user_id, consent_type order by {{ earliest_first() }}
            rows between unbounded preceding and current row
        ) as last_granted_at,
        max(case when status = 'withdrawn' then event_timestamp end) over (
            partition by user_id, consent_type order by {{ earliest_first() }}
            rows between unbounded preceding and current row
        ) as last_withdrawn_at
    from with_expiry

),

lapses as (

    select
        *,
        -- R5: an expiry strictly before the next event closes the grant; with no
        -- next event, R4's "at or before as_of". An expiry stated before the
        -- grant itself lapses at the grant (a zero-length granted interval).
        case
            when
                status = 'granted'
                and (
                    expires_at < next_event_at
                    or (is_latest and expires_at <= {{ as_of() }})
                )
                then greatest(expires_at, event_timestamp)
        end as lapsed_at
    from sequenced

),

final as (

    select
        -- ids
        event_id,
        user_id,

        -- strings
        consent_type,
        channel,
        status,
        reason,

        -- the proof (Art. 7(1)), shown by consent_history
        requested_by,
        consent_version,
        consent_purpose,
        collection_method,
        ip_address,
        user_agent,

        -- numbers
        cast(event_sequence as bigint) as event_sequence,

        -- booleans
        is_latest,

        -- timestamps
        event_timestamp,
        processed_at,
        expires_at,
        lapsed_at,
        next_event_at,
        last_granted_at,
        last_withdrawn_at

    from lapses

)

select * from final
