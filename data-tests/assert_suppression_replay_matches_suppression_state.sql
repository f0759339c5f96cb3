{#
    R7: replaying the suppression signals one by one
    (int_suppression_transitions) ends where suppression_state is at
    as_of: the latest transition of every user and channel leaves the
    reason suppression_state shows, and a channel without transitions is
    not suppressed. Returns the user-channels where the two disagree.
#}
with

latest_transitions as (

    select
        user_id,
        channel,
        reason,
        row_number() over (
            partition by user_id, channel order by signal_sequence desc
        ) as recency
    from {{ ref('int_suppression_transitions') }}

),

replayed as (

    select
        user_id,
        channel,
        reason
    from latest_transitions
    where recency = 1

),

states as (

    select
        user_id,
        channel,
        reason,
        is_suppressed
    from {{ ref('suppression_state') }}

),

final as (

    select
        coalesce(states.user_id, replayed.user_id) as user_id,
        coalesce(states.channel, replayed.channel) as channel,
        states.reason as state_reason,
        replayed.reason as replayed_reason
    from states
    full outer join replayed
        on
            states.user_id = replayed.user_id
            and states.channel = replayed.channel
    where
        states.user_id is null
        or coalesce(states.reason, '<none>') != coalesce(replayed.reason, '<none>')
        or states.is_suppressed != (replayed.reason is not null)

)

select * from final
