{#
    R5 (GDPR Art. 7(1), 7(3)): every accepted consent event as an interval
    [valid_from, valid_to) per (user, consent type), with its proof. A grant
    that lapsed before anything else happened (int_consent_events.lapsed_at)
    is closed at its expiry and followed by an `expired` interval that
    carries the grant's proof. Withdrawals add intervals; nothing is deleted.
    The proof (purpose, collection method, IP address, user agent) is read
    from the event itself (int_privacy_events), so it is stored once here and
    not in int_consent_events. Incremental by user on DuckDB
    (macros/incremental_by_user.sql): the users with new events, and those
    whose current grant's expiry as_of has now reached.
#}
{{ config(**incremental_by_user_config()) }}
{%- set scope = user_scope(judged_again=[
    'select user_id from ' ~ this ~ " where is_current and status = 'granted' and expires_at <= " ~ as_of()
]) %}

with

consent_events as (

    select * from {{ ref('int_consent_events') }}
    where {{ in_user_scope('user_id', scope) }}

),

proofs as (

    select
        event_id,
        requested_by,
        consent_purpose,
        collection_method,
        ip_address,
        user_agent
    from {{ ref('int_privacy_events') }}
    where event_type = 'consent' and {{ in_user_scope('user_id', scope) }}

),

proven as (

    select
        consent_events.*,
        proofs.requested_by,
        proofs.consent_purpose,
        proofs.collection_method,
        proofs.ip_address,
        proofs.user_agent
    from consent_events
    inner join proofs on consent_events.event_id = proofs.event_id

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
    from proven

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
    from proven
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
