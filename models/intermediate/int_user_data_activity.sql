{#
    R15: when each person last produced data in each category, at as_of.
    Behavioural categories: the latest customer event of the category. The
    profile: the latest of the profile's updated_at, its last_active_at and
    any customer event of any category (the profile is in use as long as the
    person is). Times after as_of have not happened yet and are ignored, so
    a replayed date sees the activity known then.
    Stored (incremental by user on DuckDB, a table elsewhere):
    retention_candidates and the data tests read it, and a view would
    regroup every customer event each time.
#}
{{ config(**incremental_by_user_config()) }}
{#-
    Incremental by user (macros/incremental_by_user.sql): the users whose
    staged customer events or profile changed (both staging models write the
    users of the rows they replace to the change log), and those with an
    event or a profile time that as_of reached since the last run.
-#}
{%- set reached_since_last_run -%}
    select user_id from {{ ref('stg_customer_events') }}
    where occurred_at > __previous_as_of__ and occurred_at <= {{ as_of() }}
    union all
    select user_id from {{ ref('stg_user_profiles') }}
    where
        (created_at > __previous_as_of__ and created_at <= {{ as_of() }})
        or (updated_at > __previous_as_of__ and updated_at <= {{ as_of() }})
        or (last_active_at > __previous_as_of__ and last_active_at <= {{ as_of() }})
{%- endset -%}
{%- set scope = user_scope(
    staged_event_types=[],
    changed_upstream=['stg_customer_events', 'stg_user_profiles'],
    judged_again=[reached_since_last_run],
) %}

with

customer_events as (

    select
        user_id,
        data_category,
        occurred_at
    from {{ ref('stg_customer_events') }}
    where
        user_id is not null
        and data_category is not null
        and occurred_at <= {{ as_of() }}
        and {{ in_user_scope('user_id', scope) }}

),

profiles as (

    select
        user_id,
        created_at,
        case when updated_at <= {{ as_of() }} then updated_at end as updated_at,
        case when last_active_at <= {{ as_of() }} then last_active_at end as last_active_at
    from {{ ref('stg_user_profiles') }}
    where (created_at is null or created_at <= {{ as_of() }}) and {{ in_user_scope('user_id', scope) }}

),

category_activity as (

    select
        user_id,
        data_category,
        max(occurred_at) as last_activity_at
    from customer_events
    group by user_id, data_category

),

person_activity as (

    select
        user_id,
        max(last_activity_at) as last_event_at,
        max(case when data_category = 'profile' then 1 else 0 end) = 1 as has_profile_events
    from category_activity
    group by user_id

),

profile_activity as (

    select
        coalesce(profiles.user_id, person_activity.user_id) as user_id,
        'profile' as data_category,
        -- a profile with no activity recorded was last touched when it was created
        coalesce(
            greatest(profiles.updated_at, profiles.last_active_at, person_activity.last_event_at),
            profiles.created_at
        ) as last_activity_at
    from profiles
    full outer join person_activity
        on profiles.user_id = person_activity.user_id
    where profiles.user_id is not null or person_activity.has_profile_events

),

final as (

    select
        user_id,
        data_category,
        last_activity_at
    from category_activity
    where data_category != 'profile'

    union all

    select
        user_id,
        data_category,
        last_activity_at
    from profile_activity

)

select * from final
