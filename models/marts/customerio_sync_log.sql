{#
    R22: every acknowledgement the connector wrote, typed, with the latest
    status of its action, so that "did this erasure reach Customer.io, and
    when?" is one lookup. An action's latest status is its latest
    acknowledgement's (delivered is final: nothing is sent after it).
#}
with

acks as (

    select
        *,
        row_number() over (
            partition by action_id
            order by acked_at asc nulls first, run_id asc, status asc
        ) as ack_sequence,
        row_number() over (
            partition by action_id
            order by acked_at desc nulls last, run_id desc, status desc
        ) as recency
    from {{ ref('stg_customerio_acks') }}
    where action_id is not null

),

latest as (

    select
        action_id,
        status as latest_status,
        acked_at as latest_acked_at
    from acks
    where recency = 1

),

final as (

    select
        -- ids
        {{ surrogate_key(['acks.action_id', 'acks.ack_sequence']) }} as ack_id,
        acks.action_id,
        acks.run_id,
        acks.user_id,

        -- strings
        acks.action_type,
        acks.payload,
        acks.status,
        acks.error,
        latest.latest_status,

        -- numbers
        cast(acks.ack_sequence as bigint) as ack_sequence,
        acks.http_status,
        acks.attempts,

        -- booleans
        acks.recency = 1 as is_latest,

        -- timestamps
        acks.sent_at,
        acks.acked_at,
        latest.latest_acked_at

    from acks
    inner join latest on acks.action_id = latest.action_id

)

select * from final
