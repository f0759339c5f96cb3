{#
    The privacy events that rules may act on: deduplicated (R1), trusted (R2)
    and already happened at as_of. Every state model reads events from here,
    never from staging, so replaying a past as_of gives the state as it was
    then. (Events up to future_tolerance_hours after as_of are accepted by R2
    as clock skew, but take effect only once as_of reaches them.)
    A view: the as_of filter moves with every run, and a view over the
    incremental staging table is always right and costs nothing to build.
#}
{{ config(materialized='view') }}

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

        -- consent proof (Art. 7(1))
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
    where
        disposition = 'accepted'
        and event_timestamp <= {{ as_of() }}

)

select * from final
