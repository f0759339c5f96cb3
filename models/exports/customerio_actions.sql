{#
    The Customer.io actions still pending at as_of (R16-R22), what the
    connector (`cio-privacy sync`) reads: int_pending_actions, which holds
    the rules and is recomputed per user, stamped with the run's as_of.

    A view: stamping a million stored rows with the new as_of would cost a
    daily run about as much as computing them.
#}
{{ config(materialized='view') }}

with

pending as (

    select * from {{ ref('int_pending_actions') }}

),

final as (

    select
        -- ids
        action_id,
        user_id,
        previous_action_id,
        request_id,
        policy_id,

        -- strings
        action_type,
        payload,
        reason,

        -- numbers
        sequence,  -- noqa: RF04

        -- timestamps
        {{ as_of() }} as generated_at

    from pending

)

select * from final
