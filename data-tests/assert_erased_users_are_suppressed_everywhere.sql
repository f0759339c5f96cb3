{#
    The suppression-leak test (R6, R7, GDPR Art. 17): every user with an
    erasure is suppressed on every channel (email, sms, push, in_app) with
    reason 'erasure', whatever happened after. Returns each erased user with
    fewer than four such channels.
#}
{%- set channels = privacy_vocabulary().suppression.subtypes | reject('equalto', 'all') | list -%}

with

erased_users as (

    select distinct user_id from {{ ref('int_erasures') }}

),

erased_channels as (

    select
        user_id,
        count(distinct channel) as channels_suppressed_for_erasure
    from {{ ref('suppression_state') }}
    where is_suppressed and reason = 'erasure'
    group by user_id

),

final as (

    select
        erased_users.user_id,
        coalesce(erased_channels.channels_suppressed_for_erasure, 0) as channels_suppressed_for_erasure
    from erased_users
    left join erased_channels on erased_users.user_id = erased_channels.user_id

)

select * from final
where channels_suppressed_for_erasure != {{ channels | length }}
