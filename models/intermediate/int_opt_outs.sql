{#
    R8 (opt-out lag; Gmail and Yahoo bulk-sender rules: 2 days for email
    unsubscribes; CAN-SPAM and the FCC's TCPA revocation rule: 10 business
    days): every suppression Customer.io had to be told about, and when it
    was. One row per user and channel each time the channel became
    suppressed (int_suppression_transitions), and per erasure (GDPR
    Art. 17, R17), which needs its own update even on a channel already
    suppressed. It is delivered by the first delivered acknowledgement at
    or after the signal, before the channel's next opt-out, of an update
    that carries it: an identify whose traits say `<channel>_suppressed:
    true`, or a suppress_person (which carries every channel, and is the
    only update that carries an erasure).
#}
{{ config(post_hook=["{{ keep_input_digests() }}"], **incremental_by_user_config()) }}

{%- set channels = privacy_vocabulary().suppression.subtypes | reject('equalto', 'all') | list -%}
{%- set delivered_updates = (
    "status = 'delivered' and action_type in ('identify', 'suppress_person') and acked_at <= "
    ~ as_of()
) -%}
{#-
    Incremental by user (macros/incremental_by_user.sql): the users whose
    rows of int_suppression_transitions changed since, those whose delivered updates visible at as_of differ from
    those this table was built from (per-user digests), and those whose
    two days ran out since the last as_of.
-#}
{%- set input_digests -%}
    select
        user_id,
        'acknowledgement' as input,
        count(*) as input_rows,
        sum(hash(action_type, payload, acked_at)) as digest
    from {{ ref('stg_customerio_acks') }}
    where {{ delivered_updates }}
    group by user_id
{%- endset -%}
{%- set scope = user_scope(
    staged_event_types=[],
    changed_upstream=['int_suppression_transitions'],
    input_digests=input_digests,
    judged_again=[
        'select user_id from ' ~ this ~ ' where not is_2_day_outcome_known and two_day_limit_at <= ' ~ as_of()
    ],
) %}

with

transitions as (

    select * from {{ ref('int_suppression_transitions') }}
    where {{ in_user_scope('user_id', scope) }}

),

opt_out_signals as (

    select
        user_id,
        channel,
        signal_sequence,
        source_event_id,
        request_id,
        reason,
        suppression_kind,
        changed_at as opted_out_at,
        reason = 'erasure' as is_erasure
    from transitions
    where
        (is_suppressed and not was_suppressed)
        or (reason = 'erasure' and coalesce(previous_reason, '') != 'erasure')

),

opt_outs as (

    select
        *,
        {{ surrogate_key(['user_id', 'channel', 'signal_sequence']) }} as opt_out_id,
        lead(opted_out_at) over (partition by user_id, channel order by signal_sequence) as next_opt_out_at
    from opt_out_signals

),

delivered_updates as (

    select
        user_id,
        acked_at as delivered_at,
        action_type = 'suppress_person' as is_suppress_person,
        -- the traits of the update; tolerate a payload that wraps them in "traits"
        {% for channel in channels %}
            coalesce(
                {{ json_text('payload', '$.' ~ channel ~ '_suppressed') }},
                {{ json_text('payload', '$.traits.' ~ channel ~ '_suppressed') }}
            ) = 'true' as carries_{{ channel }}_suppressed{% if not loop.last %},{% endif %}
        {% endfor %}
    from {{ ref('stg_customerio_acks') }}
    where {{ delivered_updates }} and {{ in_user_scope('user_id', scope) }}

),

deliveries as (

    select
        opt_outs.opt_out_id,
        min(delivered_updates.delivered_at) as delivered_at
    from opt_outs
    inner join delivered_updates
        on opt_outs.user_id = delivered_updates.user_id
    where
        delivered_updates.delivered_at >= opt_outs.opted_out_at
        and (opt_outs.next_opt_out_at is null or delivered_updates.delivered_at < opt_outs.next_opt_out_at)
        and (
            delivered_updates.is_suppress_person
            or (
                not opt_outs.is_erasure
                and case opt_outs.channel
                    {% for channel in channels -%}
                        when '{{ channel }}' then delivered_updates.carries_{{ channel }}_suppressed
                    {% endfor -%}
                end
            )
        )
    group by opt_outs.opt_out_id

),

measured as (

    select
        opt_outs.*,
        deliveries.delivered_at,
        {{ hours_between('opt_outs.opted_out_at', 'deliveries.delivered_at') }} as lag_hours,
        {{ timestamp_add('day', 2, 'opt_outs.opted_out_at') }} as two_day_limit_at
    from opt_outs
    left join deliveries
        on opt_outs.opt_out_id = deliveries.opt_out_id

),

final as (

    select
        -- ids
        opt_out_id,
        user_id,
        source_event_id,
        request_id,

        -- strings
        channel,
        reason,
        suppression_kind,

        -- numbers
        signal_sequence,
        lag_hours,

        -- booleans
        is_erasure,
        delivered_at is not null as is_delivered,
        coalesce(delivered_at <= two_day_limit_at, false) as is_delivered_within_2_days,
        -- whether the 2-day outcome is known at as_of: delivered in time, or the 2 days are over
        coalesce(delivered_at <= two_day_limit_at, false) or two_day_limit_at <= {{ as_of() }}
            as is_2_day_outcome_known,

        -- timestamps
        opted_out_at,
        delivered_at,
        two_day_limit_at

    from measured

)

select * from final
