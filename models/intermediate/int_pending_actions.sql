{#
    The Customer.io actions still pending (R16-R22): what the connector
    (`cio-privacy sync`) sends, one row per action, ordered per user.

    Desired state, per user known to suppression_state:
    - R17 (GDPR Art. 17): an erased user is suppressed in Customer.io
      (suppress_person, "User Suppressed"), which deletes the person and
      blocks the identifier; R20: never an identify or delete_person for them.
      Should an erasure vanish (a replay after a corrected request), a
      delivered suppression is lifted again (unsuppress_person).
    - R18 (Art. 5(1)(e)): a due `profile` retention candidate: hard_delete
      gives delete_person (and no identify, which would re-create what is
      being deleted); anonymize nulls email, phone, first_name and last_name
      and sets anonymized_at; pseudonymize replaces email and phone with
      keyed pseudonyms. The key never reaches SQL: the payload carries
      `{"$pseudonymize": "email"}` and the connector sends
      HMAC-SHA256(PRIVACY_HMAC_KEY, value) in its place. hard_delete wins
      over anonymize, anonymize over pseudonymize.
    - R19: one identify with the privacy traits (suppression per channel,
      consent state per type, subscription topics), the rectified traits
      (Art. 16) and the retention traits above, in a fixed order, so that
      equal states give equal text.
    R21: an action is pending while no delivered acknowledgement holds its
    payload; its id hashes the user, the type, the payload and the id of
    the last delivered action of that user and type. R22: a rejected
    action_id is not resent; a failed one stays pending.

    customerio_actions is this table with the run's as_of as generated_at.
#}
{{ config(post_hook=["{{ keep_input_digests() }}"], **incremental_by_user_config()) }}

{%- set vocabulary = privacy_vocabulary() -%}
{%- set channels = vocabulary.suppression.subtypes | reject('equalto', 'all') | list -%}
{%- set consent_types = vocabulary.consent.subtypes -%}
{%- set pii_traits = ['email', 'phone', 'first_name', 'last_name'] -%}
{%- set pseudonymized_traits = ['email', 'phone'] -%}
{%- set topic_prefix = 'cio_subscription_preferences.topics.topic_' -%}
{%- set due_profile_policy -%}
    is_due
    and data_category = 'profile'
    and deletion_strategy in ('hard_delete', 'anonymize', 'pseudonymize')
{%- endset -%}
{%- set visible_acks = 'acked_at <= ' ~ as_of() -%}
{#-
    Incremental by user (macros/incremental_by_user.sql): the users whose
    rows of suppression_state or int_consent_events (consent_state) changed
    since, and the users whose erasures, due
    profile policies, rectified traits or visible acknowledgements differ
    from those this table was built from (small inputs, compared as
    per-user digests; an acknowledgement written late, or forgotten, shows
    there too).
-#}
{%- set input_digests -%}
    select user_id, input, count(*) as input_rows, sum(digest) as digest
    from (
        select user_id, 'erasure' as input, hash(erased_at, request_id) as digest
        from {{ ref('int_erasures') }}
        union all
        select user_id, 'retention', hash(policy_id, deletion_strategy, retention_expires_at)
        from {{ ref('retention_candidates') }}
        where {{ due_profile_policy }}
        union all
        select user_id, 'rectification', hash(trait, trait_value)
        from {{ ref('int_rectifications') }}
        union all
        select user_id, 'acknowledgement', hash(action_id, action_type, payload, status, acked_at)
        from {{ ref('stg_customerio_acks') }}
        where {{ visible_acks }}
    ) as inputs
    group by user_id, input
{%- endset -%}
{%- set scope = user_scope(
    staged_event_types=[],
    changed_upstream=['suppression_state', 'int_consent_events'],
    input_digests=input_digests,
) %}

with

users as (

    select
        user_id,
        {{ pivot_columns('channel', channels, [('is_suppressed', 'suppressed'), ('reason', 'reason')]) }}
    from {{ ref('suppression_state') }}
    where {{ in_user_scope('user_id', scope) }}
    group by user_id

),

consents as (

    select
        user_id,
        {{ pivot_columns('consent_type', consent_types, [('status', 'status'), ('is_granted', 'granted')]) }}
    from {{ ref('consent_state') }}
    where {{ in_user_scope('user_id', scope) }}
    group by user_id

),

topics as (

    -- one row: the subscription topic of each consent type, null when not mapped
    select
        {{ pivot_columns(
            'consent_type', consent_types,
            [("nullif(trim(cast(customerio_topic_id as " ~ dbt.type_string() ~ ")), '')", 'topic')]
        ) }}
    from {{ ref('consent_purposes') }}

),

erasures as (

    select
        user_id,
        min(erased_at) as erased_at,
        min(request_id) as request_id
    from {{ ref('int_erasures') }}
    where {{ in_user_scope('user_id', scope) }}
    group by user_id

),

due_profile_policies as (

    select
        user_id,
        deletion_strategy,
        policy_id,
        retention_expires_at,
        row_number() over (
            partition by user_id
            order by
                case deletion_strategy when 'hard_delete' then 1 when 'anonymize' then 2 else 3 end,
                retention_expires_at asc,
                policy_id asc
        ) as precedence
    from {{ ref('retention_candidates') }}
    where {{ due_profile_policy }} and {{ in_user_scope('user_id', scope) }}

),

retention as (

    select
        user_id,
        deletion_strategy,
        policy_id,
        retention_expires_at
    from due_profile_policies
    where precedence = 1

),

rectified as (

    -- R19: traits the retention traits or the privacy traits do not set
    select
        rectifications.user_id,
        {{ ordered_join(
            json_string('rectifications.trait') ~ " || ':' || " ~ json_string('rectifications.trait_value'),
            'rectifications.trait'
        ) }} as members
    from {{ ref('int_rectifications') }} as rectifications
    left join retention on rectifications.user_id = retention.user_id
    where
        {{ in_user_scope('rectifications.user_id', scope) }}
        and rectifications.trait not in {{ reserved_traits(channels, consent_types) }}
        and rectifications.trait not like 'cio_subscription_preferences%'
        and not (
            coalesce(retention.deletion_strategy, '') = 'anonymize'
            and rectifications.trait in {{ sql_list(pii_traits) }}
        )
        and not (
            coalesce(retention.deletion_strategy, '') = 'pseudonymize'
            and rectifications.trait in {{ sql_list(pseudonymized_traits) }}
        )
    group by rectifications.user_id

),

identify_payloads as (

    select
        users.user_id,
        retention.deletion_strategy,
        retention.policy_id,
        concat(
            '{',
            {{ privacy_traits_json(channels, consent_types, topic_prefix) }},
            coalesce(',' || rectified.members, ''),
            {{ retention_traits_json(
                'retention.deletion_strategy', 'retention.retention_expires_at', pii_traits, pseudonymized_traits
            ) }},
            '}'
        ) as payload
    from users
    cross join topics
    left join consents on users.user_id = consents.user_id
    left join rectified on users.user_id = rectified.user_id
    left join retention on users.user_id = retention.user_id
    left join erasures on users.user_id = erasures.user_id
    where
        erasures.user_id is null  -- R20
        and coalesce(retention.deletion_strategy, '') != 'hard_delete'

),

acks as (

    select *
    from {{ ref('stg_customerio_acks') }}
    where {{ visible_acks }} and {{ in_user_scope('user_id', scope) }}

),

last_delivered as (

    -- R21: the last delivered action of each user and type
    select
        user_id,
        action_type,
        action_id,
        payload,
        acked_at
    from (
        select
            user_id,
            action_type,
            action_id,
            payload,
            acked_at,
            row_number() over (
                partition by user_id, action_type
                order by acked_at desc, action_id desc
            ) as recency
        from acks
        where status = 'delivered'
    ) as delivered
    where recency = 1

),

delivered_at as (

    select
        user_id,
        max(case when action_type = 'identify' then acked_at end) as identified_at,
        max(case when action_type = 'suppress_person' then acked_at end) as suppressed_at,
        max(case when action_type = 'unsuppress_person' then acked_at end) as unsuppressed_at,
        max(case when action_type = 'delete_person' then acked_at end) as deleted_at
    from last_delivered
    group by user_id

),

customerio_people as (

    -- what Customer.io holds for each user the connector ever reached
    select
        user_id,
        coalesce(suppressed_at > unsuppressed_at, suppressed_at is not null) as is_suppressed,
        coalesce(deleted_at > identified_at, deleted_at is not null) as is_deleted,
        -- a suppression or deletion removed the profile the last identify wrote
        coalesce(suppressed_at > identified_at, false)
        or coalesce(deleted_at > identified_at, false) as is_removed_since_identify
    from delivered_at

),

desired as (

    select
        identify_payloads.user_id,
        'identify' as action_type,
        identify_payloads.payload,
        case identify_payloads.deletion_strategy
            when 'anonymize' then 'retention_anonymize'
            when 'pseudonymize' then 'retention_pseudonymize'
            else 'privacy_traits'
        end as reason,
        cast(null as {{ dbt.type_string() }}) as request_id,
        identify_payloads.policy_id,
        coalesce(customerio_people.is_removed_since_identify, false) as is_due_regardless_of_payload
    from identify_payloads
    left join customerio_people on identify_payloads.user_id = customerio_people.user_id

    union all

    select
        erasures.user_id,
        'suppress_person' as action_type,
        '{}' as payload,
        'erasure' as reason,
        erasures.request_id,
        cast(null as {{ dbt.type_string() }}) as policy_id,
        true as is_due_regardless_of_payload
    from erasures
    left join customerio_people on erasures.user_id = customerio_people.user_id
    where not coalesce(customerio_people.is_suppressed, false)

    union all

    select
        customerio_people.user_id,
        'unsuppress_person' as action_type,
        '{}' as payload,
        'erasure_lifted' as reason,
        cast(null as {{ dbt.type_string() }}) as request_id,
        cast(null as {{ dbt.type_string() }}) as policy_id,
        true as is_due_regardless_of_payload
    from customerio_people
    left join erasures on customerio_people.user_id = erasures.user_id
    where customerio_people.is_suppressed and erasures.user_id is null

    union all

    select
        retention.user_id,
        'delete_person' as action_type,
        '{}' as payload,
        'retention_hard_delete' as reason,
        cast(null as {{ dbt.type_string() }}) as request_id,
        retention.policy_id,
        true as is_due_regardless_of_payload
    from retention
    left join erasures on retention.user_id = erasures.user_id
    left join customerio_people on retention.user_id = customerio_people.user_id
    where
        retention.deletion_strategy = 'hard_delete'
        and erasures.user_id is null  -- R20
        and not coalesce(customerio_people.is_deleted, false)

),

identified as (

    select
        desired.user_id,
        desired.action_type,
        desired.payload,
        desired.reason,
        desired.request_id,
        desired.policy_id,
        last_delivered.action_id as previous_action_id,
        {{ surrogate_key([
            'desired.user_id', 'desired.action_type', 'desired.payload',
            "coalesce(last_delivered.action_id, '')"
        ]) }} as action_id
    from desired
    left join last_delivered
        on
            desired.user_id = last_delivered.user_id
            and desired.action_type = last_delivered.action_type
    where
        -- R21; suppress, unsuppress and delete were diffed against Customer.io's state above
        desired.is_due_regardless_of_payload
        or last_delivered.payload is null
        or last_delivered.payload != desired.payload

),

rejected as (

    select distinct action_id
    from acks
    where status = 'rejected'

),

final as (

    select
        -- ids
        identified.action_id,
        identified.user_id,
        identified.previous_action_id,
        identified.request_id,
        identified.policy_id,

        -- strings
        identified.action_type,
        identified.payload,
        identified.reason,

        -- numbers: R20, a suppression or deletion after every other action of the user
        cast(row_number() over (
            partition by identified.user_id
            order by
                case identified.action_type
                    when 'unsuppress_person' then 1
                    when 'identify' then 2
                    when 'suppress_person' then 3
                    else 4
                end
        ) as bigint) as sequence  -- noqa: RF04

    from identified
    left join rejected on identified.action_id = rejected.action_id
    where rejected.action_id is null  -- R22

)

select * from final
