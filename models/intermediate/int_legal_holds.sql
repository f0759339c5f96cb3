{#
    R15: the legal hold state of each person who ever had one: the status
    of their latest legal_hold event (R3 order), over all matters. A hold
    suspends retention deletion where the policy honours it (Art. 17(3)(e),
    the establishment, exercise or defence of legal claims).
    A table: tiny, and read by retention and its tests, where a view would rescan
    every privacy event each time.
#}
{{ config(materialized='table') }}

with

hold_events as (

    select
        event_id,
        user_id,
        event_subtype,
        status,
        event_timestamp,
        processed_at
    from {{ ref('int_privacy_events') }}
    where event_type = 'legal_hold'

),

ranked as (

    select
        *,
        row_number() over (
            partition by user_id
            order by {{ latest_first() }}
        ) as recency,
        min(event_timestamp) over (partition by user_id) as first_held_at
    from hold_events

),

final as (

    select
        -- ids
        user_id,
        event_id as source_event_id,

        -- strings
        status as hold_status,
        event_subtype as matter_type,

        -- booleans
        status = 'active' as is_on_legal_hold,

        -- timestamps
        first_held_at,
        event_timestamp as hold_status_since

    from ranked
    where recency = 1

)

select * from final
