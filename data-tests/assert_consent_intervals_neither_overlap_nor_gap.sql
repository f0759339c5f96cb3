{#
    R5: per (user, consent type), intervals in order (valid_from, then the
    source event's sequence, the event's own interval before the expiry
    interval it opens) chain without overlap or gap: each ends where the next
    begins, none ends before it starts, and only the last is open (current).
    Returns every interval that breaks the chain, with the problem.
#}
with

intervals as (

    select * from {{ ref('consent_history') }}

),

chained as (

    select
        user_id,
        consent_type,
        interval_id,
        valid_from,
        valid_to,
        is_current,
        lead(valid_from) over (
            partition by user_id, consent_type
            order by valid_from asc, event_sequence asc, is_expiry_interval asc
        ) as next_valid_from,
        lead(interval_id) over (
            partition by user_id, consent_type
            order by valid_from asc, event_sequence asc, is_expiry_interval asc
        ) as next_interval_id
    from intervals

),

final as (

    select
        *,
        case
            when valid_to < valid_from then 'ends before it starts'
            when next_interval_id is null and valid_to is not null then 'last interval is closed'
            when next_interval_id is not null and valid_to is null then 'open interval before another'
            when valid_to < next_valid_from then 'gap before the next interval'
            when valid_to > next_valid_from then 'overlaps the next interval'
            when is_current != (next_interval_id is null) then 'is_current is not the last interval'
        end as problem
    from chained

)

select * from final
where problem is not null
