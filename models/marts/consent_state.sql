{#
    R4 (GDPR Art. 7): the current consent of every user for every consent
    type they have an event for: the status of the latest event (R3 order),
    except that a grant whose expiry is at or before as_of is `expired`.
    `pending` is not consent. It is the current interval of consent_history.
    A view: int_consent_events holds the latest event of every (user,
    consent type) with its lapse, so the state is a filter and a projection
    of stored rows.
#}
{{ config(materialized='view') }}

with

latest as (

    select * from {{ ref('int_consent_events') }}
    where is_latest

),

final as (

    select
        -- ids
        user_id,
        event_id as source_event_id,

        -- strings
        consent_type,
        case when lapsed_at is not null then 'expired' else status end as status,
        channel,
        -- the contract's name, although version is a keyword
        consent_version as version,  -- noqa: RF04

        -- booleans
        status = 'granted' and lapsed_at is null as is_granted,

        -- timestamps
        last_granted_at as granted_at,
        last_withdrawn_at as withdrawn_at,
        expires_at,
        coalesce(lapsed_at, event_timestamp) as updated_at

    from latest

)

select * from final
