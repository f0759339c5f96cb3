{#
    R5 (GDPR Art. 7(1), 7(3)): every accepted consent event as an interval
    [valid_from, valid_to) per (user, consent type), with its proof. A grant
    that lapsed before anything else happened (int_consent_events.lapsed_at)
    is closed at its expiry and followed by an `expired` interval that
    carries the grant's proof. Withdrawals add intervals; nothing is deleted.

    A view: int_consent_events holds every event with its proof, so the
    history only reshapes stored rows (a projection and a union, no join and
    no window); writing ten million intervals again would cost a full build
    about as much as computing them.
#}
{{ config(materialized='view') }}

with

consent_events as (

    select * from {{ ref('int_consent_events') }}

),

event_intervals as (

    select
        event_id as interval_id,
        user_id,
        event_id as source_event_id,
        consent_type,
        status,
        reason,
        requested_by,
        consent_version,
        consent_purpose,
        collection_method,
        ip_address,
        user_agent,
        event_sequence,
        false as is_expiry_interval,
        event_timestamp as valid_from,
        coalesce(lapsed_at, next_event_at) as valid_to,
        expires_at
    from consent_events

),

expiry_intervals as (

    select
        {{ dbt.concat(['event_id', "':expiry'"]) }} as interval_id,
        user_id,
        event_id as source_event_id,
        consent_type,
        'expired' as status,
        'consent_expired' as reason,
        cast(null as {{ dbt.type_string() }}) as requested_by,
        consent_version,
        consent_purpose,
        collection_method,
        ip_address,
        user_agent,
        event_sequence,
        true as is_expiry_interval,
        lapsed_at as valid_from,
        next_event_at as valid_to,
        expires_at
    from consent_events
    where lapsed_at is not null

),

intervals as (

    select * from event_intervals
    union all
    select * from expiry_intervals

),

final as (

    select
        -- ids
        interval_id,
        user_id,
        source_event_id,

        -- strings
        consent_type,
        status,
        reason,
        requested_by,
        -- the contract's name, although version is a keyword
        consent_version as version,  -- noqa: RF04
        consent_purpose as purpose,
        collection_method,
        ip_address,
        user_agent,

        -- numbers
        event_sequence,

        -- booleans
        valid_to is null as is_current,
        is_expiry_interval,

        -- timestamps
        valid_from,
        valid_to,
        expires_at

    from intervals

)

select * from final
