{#
    R9, R12, R13: one row per data subject request, built from its accepted
    gdpr_request events in one window pass. Depends on as_of only through
    int_privacy_events (events not yet happened at as_of are not there); the
    as_of-dependent deadlines and overdue flags live in dsr_requests.
    A table, not a view: suppression, erasure, retention and the public
    dsr_requests all read it, and a view would rescan the events each time.
#}
{{ config(materialized='table') }}

with

request_events as (

    select
        event_id,
        request_id,
        user_id,
        event_subtype,
        status,
        requested_by,
        regulation,
        exemption,
        event_timestamp,
        processed_at
    from {{ ref('int_privacy_events') }}
    where event_type = 'gdpr_request'

),

ordered as (

    select
        *,
        row_number() over (
            partition by request_id
            order by {{ earliest_first() }}
        ) as event_order,
        count(*) over (partition by request_id) as events_in_request
    from request_events

),

exemption_located as (

    select
        *,
        -- R13: when events carry different articles, the latest statement wins.
        max(case when exemption is not null then event_order end) over (
            partition by request_id
        ) as latest_exemption_order
    from ordered

),

aggregated as (

    select
        request_id,

        -- R9: the earliest event identifies the request
        max(case when event_order = 1 then user_id end) as user_id,
        max(case when event_order = 1 then event_subtype end) as request_type,
        max(case when event_order = 1 then regulation end) as regulation,
        max(case when event_order = 1 then requested_by end) as requested_by,
        max(case when event_order = 1 then event_id end) as received_event_id,
        min(event_timestamp) as received_at,

        -- R12: the latest event (R3 order) holds the status
        max(case when event_order = events_in_request then status end) as status,
        max(case when event_order = events_in_request then event_id end) as latest_event_id,
        max(event_timestamp) as latest_event_at,

        -- milestones
        min(case when status in ('verified', 'processing', 'completed') then event_timestamp end)
            as verified_at,
        min(case when status = 'extended' then event_timestamp end) as extended_at,
        max(case when status = 'completed' then event_timestamp end) as completed_at,

        -- R13
        max(case when event_order = latest_exemption_order then exemption end) as exemption_claimed,

        count(*) as event_count

    from exemption_located
    group by request_id

),

final as (

    select
        -- ids
        request_id,
        user_id,
        received_event_id,
        latest_event_id,

        -- strings
        request_type,
        regulation,
        requested_by,
        status,
        -- Art. 17(3) only limits erasure: an article on any other request type means nothing.
        case when request_type = 'deletion' then exemption_claimed end as exemption,

        -- booleans
        status in ('completed', 'cancelled') as is_closed,
        request_type = 'deletion' and exemption_claimed is not null as is_exempt,

        -- numbers
        event_count,

        -- timestamps
        received_at,
        verified_at,
        extended_at,
        completed_at,
        latest_event_at

    from aggregated

)

select * from final
