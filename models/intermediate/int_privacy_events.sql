{#
    The privacy events that rules may act on: deduplicated (R1) and trusted
    (R2). Every state model reads events from here, never from staging.
#}
with

staged as (

    select * from {{ ref('stg_privacy_events') }}

),

final as (

    select
        -- ids
        event_id,
        user_id,
        request_id,

        -- strings
        event_type,
        event_subtype,
        status,
        reason,
        requested_by,
        regulation,
        bounce_type,
        exemption,
        consent_version,
        consent_purpose,
        collection_method,
        ip_address,
        user_agent,

        -- timestamps
        event_timestamp,
        processed_at,
        expires_at,

        -- details
        metadata

    from staged
    where disposition = 'accepted'

)

select * from final
