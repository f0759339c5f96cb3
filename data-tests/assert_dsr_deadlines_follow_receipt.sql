{#
    R10, R11: a deadline never precedes the receipt, and a CCPA request is
    acknowledged before it must be answered. Returns the requests that
    break either.
#}
with

requests as (

    select * from {{ ref('dsr_requests') }}

),

final as (

    select
        request_id,
        regulation,
        received_at,
        acknowledge_due_at,
        due_at
    from requests
    where
        due_at < received_at
        or acknowledge_due_at < received_at
        or acknowledge_due_at > due_at

)

select * from final
