{#
    R6 (erasure), GDPR Art. 17(1): the deletion requests that erase. Identity
    must have been checked (a verified, processing or completed event), the
    requester must not have cancelled (latest status), and no Art. 17(3)
    exemption may apply (R13). The erasure takes effect at the first event
    that proves the identity check and is terminal: nothing releases it.
#}
with

requests as (

    select * from {{ ref('int_dsr_requests') }}

),

final as (

    select
        -- ids
        user_id,
        request_id,

        -- timestamps
        verified_at as erased_at

    from requests
    where
        request_type = 'deletion'
        and verified_at is not null
        and status != 'cancelled'
        and not is_exempt

)

select * from final
