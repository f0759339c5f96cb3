{#
    R9-R13: every data subject request with its legal deadlines and where it
    stands at as_of. GDPR (Art. 12(3)): one calendar month, three with an
    extension. CCPA (regs §7021): acknowledge within 10 business days,
    respond within 45 calendar days, 90 with an extension.
#}
with

requests as (

    select * from {{ ref('int_dsr_requests') }}

),

deadlines as (

    select
        *,
        extended_at is not null as is_extended,

        -- R10, R11: the deadline before any extension
        case regulation
            when 'gdpr' then {{ timestamp_add('month', 1, 'received_at') }}
            when 'ccpa' then {{ timestamp_add('day', 45, 'received_at') }}
        end as initial_due_at,

        case regulation
            when 'gdpr' then {{ timestamp_add('month', 3, 'received_at') }}
            when 'ccpa' then {{ timestamp_add('day', 90, 'received_at') }}
        end as extended_due_at,

        -- R11; GDPR sets no acknowledgement deadline
        case regulation
            when 'ccpa' then {{ add_business_days('received_at', 10) }}
        end as acknowledge_due_at

    from requests

),

due as (

    select
        *,
        case when is_extended then extended_due_at else initial_due_at end as due_at
    from deadlines

),

final as (

    select
        -- ids
        request_id,
        user_id,

        -- strings
        request_type,
        regulation,
        requested_by,
        status,
        exemption,

        -- timestamps
        received_at,
        acknowledge_due_at,
        due_at,
        verified_at,
        extended_at,
        completed_at,

        -- booleans
        is_extended,
        -- the extension must be notified within the first period (Art. 12(3), §7021(b))
        case when is_extended then extended_at <= initial_due_at end as extension_notified_in_time,
        is_closed,
        not is_closed and {{ as_of() }} > due_at as is_overdue,
        completed_at <= due_at as completed_on_time,
        is_exempt,

        -- numbers
        {{ hours_between('received_at', 'completed_at') }} as processing_hours

    from due

)

select * from final
