{#
    R2 quarantine: every raw privacy row that cannot be trusted, with the one
    reason it was refused. These rows never change any state. Values are
    shown as staging cleaned them (trimmed, vocabulary lower-cased).

    A view, like privacy_audit_log: each row is a projection of one stored
    staging row, so the quarantine cannot disagree with staging, and a build
    does not write the rejected rows a second time.
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

        -- strings
        event_type,
        event_subtype,
        status,
        reason,
        requested_by,
        rejection_reason,

        -- timestamps
        event_timestamp,
        processed_at,

        -- details
        metadata

    from staged
    where disposition = 'rejected'

)

select * from final
