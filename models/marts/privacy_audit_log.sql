{#
    The audit trail (GDPR Art. 5(2) accountability, Art. 30 records): one
    row per auditable happening, from three inputs, each read once with a
    plain projection:
    - every accepted privacy event (R1, R2): consent decisions (Art. 7),
      suppressions and releases (R6), data subject request status changes
      (R9-R13), legal holds, retention audit records;
    - every quarantined raw row (R2), with its rejection reason;
    - every Customer.io acknowledgement (R22) up to as_of.
    `detail` is `key=value; ...` text of facts that are not personal data:
    no e-mail, phone, name, IP address, user agent or rectified value
    (consent proof with IP and user agent stays in consent_history).
    `action` and `source` are the contract's names, although SQL keywords.

    A view: every row is a projection of one stored row (an accepted or
    quarantined privacy row, an acknowledgement), so the log can never
    disagree with what it records, a read for one user reads that user's
    rows, and a build writes no second copy of eleven million events.
#}
{{ config(materialized='view') }}

with

privacy_events as (

    select
        event_id,
        user_id,
        request_id,
        event_type,
        event_subtype,
        status,
        reason,
        requested_by,
        regulation,
        bounce_type,
        exemption,
        consent_version,
        consent_purpose,
        collection_method,
        event_timestamp
    from {{ ref('int_privacy_events') }}

),

privacy_event_entries as (

    select
        {{ surrogate_key(["'privacy_event'", 'event_id']) }} as audit_id,
        event_id as source_id,
        user_id,
        case event_type
            when 'gdpr_request' then 'data_subject_request'
            else event_type
        end as category,
        case
            when event_type = 'suppression' and status = 'active' then 'suppressed'
            when event_type = 'suppression' and status = 'removed' then 'released'
            when event_type = 'legal_hold' and status = 'active' then 'placed'
            -- free-text status: kept in detail, the action is the record itself
            when event_type = 'data_retention' then 'recorded'
            else status
        end as action,  -- noqa: RF04
        concat_ws(
            '; ',
            case event_type
                when 'consent' then 'consent_type='
                when 'suppression' then 'channel='
                when 'gdpr_request' then 'request_type='
                when 'legal_hold' then 'hold='
                when 'data_retention' then 'record='
            end || event_subtype,
            case when event_type = 'data_retention' then 'status=' || status end,
            'request_id=' || request_id,
            'regulation=' || regulation,
            'reason=' || reason,
            'bounce_type=' || bounce_type,
            'exemption=' || exemption,
            'version=' || consent_version,
            'purpose=' || consent_purpose,
            'collection_method=' || collection_method,
            'requested_by=' || requested_by
        ) as detail,
        'privacy_events' as source,  -- noqa: RF04
        event_timestamp as occurred_at
    from privacy_events

),

quarantined as (

    select
        *,
        -- identical rejected rows (possible only without an event_id) are told apart by their order
        row_number() over (
            partition by
                event_id, user_id, event_type, event_subtype, status, reason, requested_by,
                event_timestamp, processed_at, rejection_reason
            order by event_id
        ) as occurrence
    from {{ ref('privacy_events_rejected') }}

),

quarantine_entries as (

    select
        {{ surrogate_key([
            "'quarantine'", 'event_id', 'user_id', 'event_type', 'event_subtype', 'status', 'reason',
            'requested_by', timestamp_text('event_timestamp'), timestamp_text('processed_at'),
            'rejection_reason', 'occurrence'
        ]) }} as audit_id,
        event_id as source_id,
        user_id,
        'quarantine' as category,
        'rejected' as action,  -- noqa: RF04
        'rejection_reason=' || rejection_reason as detail,
        'privacy_events' as source,  -- noqa: RF04
        -- the moment the untrusted row arrived; its own timestamp may be missing or in the future
        coalesce(processed_at, event_timestamp) as occurred_at
    from quarantined

),

acks as (

    select * from {{ ref('stg_customerio_acks') }}
    where acked_at <= {{ as_of() }}

),

ack_entries as (

    select
        {{ surrogate_key([
            "'customerio_ack'", 'action_id', 'run_id', 'status', 'attempts', 'http_status',
            timestamp_text('acked_at')
        ]) }} as audit_id,
        action_id as source_id,
        user_id,
        'customerio_sync' as category,
        status as action,  -- noqa: RF04
        concat_ws(
            '; ',
            'action_type=' || action_type,
            'run_id=' || run_id,
            'http_status=' || cast(http_status as {{ dbt.type_string() }}),
            'attempts=' || cast(attempts as {{ dbt.type_string() }}),
            'error=' || error
        ) as detail,
        'customerio_acks' as source,  -- noqa: RF04
        acked_at as occurred_at
    from acks

),

entries as (

    select * from privacy_event_entries
    union all
    select * from quarantine_entries
    union all
    select * from ack_entries

),

final as (

    select
        -- ids
        audit_id,
        user_id,
        source_id,

        -- strings
        category,
        action,
        detail,
        source,

        -- timestamps
        occurred_at

    from entries

)

select * from final
