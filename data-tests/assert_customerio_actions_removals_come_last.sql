-- R20: within one user, a suppress_person or delete_person goes after every
-- other pending action, and a user has at most one of them: the connector
-- sends a user's actions in `sequence` order, so nothing can re-create the
-- person after the removal. Sequences run 1..n without gaps.
with

per_user as (

    select
        user_id,
        count(*) as actions,
        max(sequence) as last_sequence,
        min(sequence) as first_sequence,
        sum(case when action_type in ('suppress_person', 'delete_person') then 1 else 0 end) as removals,
        max(case when action_type in ('suppress_person', 'delete_person') then sequence end) as removal_sequence
    from {{ ref('customerio_actions') }}
    group by user_id

)

select *
from per_user
where
    first_sequence != 1
    or last_sequence != actions
    or removals > 1
    or (removals = 1 and removal_sequence != last_sequence)
