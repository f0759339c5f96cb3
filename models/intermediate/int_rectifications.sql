{#
    R19 (GDPR Art. 16, right to rectification): the traits a rectification
    request sets, one row per user and trait, the latest value winning. A
    request counts once its identity was checked (verified or later) and it
    was neither cancelled nor failed; each of its events may name traits as
    metadata['rectify.<trait>'] (a blank value names nothing).
#}
{{ config(materialized='table') }}

with

requests as (

    select request_id
    from {{ ref('int_dsr_requests') }}
    where
        request_type = 'rectification'
        and verified_at is not null
        and status not in ('cancelled', 'failed')

),

request_events as (

    select
        events.event_id,
        events.user_id,
        events.request_id,
        events.event_timestamp,
        events.metadata
    from {{ ref('int_privacy_events') }} as events
    inner join requests on events.request_id = requests.request_id
    where
        events.event_type = 'gdpr_request'
        and events.event_subtype = 'rectification'

),

metadata_keys as (

    select
        event_id,
        user_id,
        request_id,
        event_timestamp,
        metadata,
        {{ explode_array('map_keys(metadata)') }} as metadata_key
    from request_events

),

named_traits as (

    select
        event_id,
        user_id,
        request_id,
        event_timestamp,
        substr(metadata_key, 9) as trait,
        {{ trimmed("metadata[metadata_key]") }} as trait_value
    from metadata_keys
    where metadata_key like 'rectify.%'

),

ranked as (

    select
        *,
        row_number() over (
            partition by user_id, trait
            order by event_timestamp desc, event_id desc
        ) as recency
    from named_traits
    where trait_value is not null and {{ trimmed('trait') }} is not null

),

final as (

    select
        -- ids
        user_id,
        request_id,
        event_id as source_event_id,

        -- strings
        trait,
        trait_value,

        -- timestamps
        event_timestamp as rectified_at

    from ranked
    where recency = 1

)

select * from final
