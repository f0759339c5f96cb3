{#
    R4 and R5 agree: each consent_state row is the current interval of
    consent_history for its (user, consent type), with the same status,
    start and source event; and the history holds as many event intervals as
    there are accepted consent events (with interval_id unique, each event
    exactly once: Art. 7(1), no proof is lost). Returns disagreements.
#}
with

states as (

    select * from {{ ref('consent_state') }}

),

intervals as (

    select * from {{ ref('consent_history') }}

),

current_intervals as (

    select * from intervals
    where is_current

),

state_mismatches as (

    select
        coalesce(states.user_id, current_intervals.user_id) as user_id,
        coalesce(states.consent_type, current_intervals.consent_type) as consent_type,
        'consent_state differs from the current interval' as problem
    from states
    full outer join current_intervals
        on
            states.user_id = current_intervals.user_id
            and states.consent_type = current_intervals.consent_type
    where
        states.user_id is null
        or current_intervals.user_id is null
        or states.status != current_intervals.status
        or states.updated_at != current_intervals.valid_from
        or states.source_event_id != current_intervals.source_event_id

),

event_count as (

    select count(*) as consent_events
    from {{ ref('int_privacy_events') }}
    where event_type = 'consent'

),

interval_count as (

    select count(*) as event_intervals
    from intervals
    where not is_expiry_interval

),

missing_events as (

    select
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as consent_type,
        'accepted consent events and event intervals differ in number' as problem
    from event_count
    cross join interval_count
    where event_count.consent_events != interval_count.event_intervals

),

final as (

    select * from state_mismatches
    union all
    select * from missing_events

)

select * from final
