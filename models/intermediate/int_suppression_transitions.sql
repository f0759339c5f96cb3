{#
    R7 replayed over time: every moment a user's channel became suppressed,
    was released, or stayed suppressed for another reason. One window pass
    over int_suppression_signals applies suppression_state's rule after
    each signal (erasure first; otherwise the latest preference suppress
    against the latest explicit or consent release, the latest
    deliverability suppress against the latest explicit release) and keeps
    the signals that changed the holding reason. The last row of each user
    and channel is therefore suppression_state at as_of (data test
    assert_suppression_replay_matches_suppression_state). Feeds the daily
    suppression counts and the opt-out lag (R8) of compliance_metrics_daily.
#}
{{ config(**incremental_by_user_config()) }}
{#- Incremental by user (macros/incremental_by_user.sql): a function of
    int_suppression_signals alone, so the users whose signals changed. -#}
{%- set scope = user_scope(staged_event_types=[], changed_upstream=['int_suppression_signals']) %}

with

signals as (

    select
        user_id,
        channel,
        signal_sequence,
        signal_kind,
        reason,
        source_event_id,
        request_id,
        signal_at
    from {{ ref('int_suppression_signals') }}
    where {{ in_user_scope('user_id', scope) }}

),

latest_so_far as (

    -- sequence 0 stands for "never", as in suppression_state
    select
        *,
        coalesce(max(case when signal_kind = 'erasure' then signal_sequence end) over signals_so_far, 0)
            as latest_erasure,
        coalesce(max(case when signal_kind = 'preference_suppress' then signal_sequence end) over signals_so_far, 0)
            as latest_preference_suppress,
        coalesce(max(case when signal_kind = 'deliverability_suppress' then signal_sequence end) over signals_so_far, 0)
            as latest_deliverability_suppress,
        coalesce(max(case when signal_kind = 'explicit_release' then signal_sequence end) over signals_so_far, 0)
            as latest_explicit_release,
        coalesce(max(case when signal_kind = 'consent_release' then signal_sequence end) over signals_so_far, 0)
            as latest_consent_release,
        {{ last_value_ignoring_nulls("case when signal_kind = 'preference_suppress' then reason end") }}
            over signals_so_far as latest_preference_reason,
        {{ last_value_ignoring_nulls("case when signal_kind = 'deliverability_suppress' then reason end") }}
            over signals_so_far as latest_deliverability_reason
    from signals
    window signals_so_far as (
        partition by user_id, channel
        order by signal_sequence
        rows between unbounded preceding and current row
    )

),

holding as (

    select
        *,
        latest_preference_suppress > greatest(latest_explicit_release, latest_consent_release)
            as is_preference_holding,
        latest_deliverability_suppress > latest_explicit_release as is_deliverability_holding
    from latest_so_far

),

state_after_signal as (

    select
        user_id,
        channel,
        signal_sequence,
        signal_kind,
        source_event_id,
        request_id,
        signal_at,
        -- R7: the reason of the latest signal that holds the suppression, an erasure first
        case
            when latest_erasure > 0 then 'erasure'
            when
                is_preference_holding
                and (not is_deliverability_holding or latest_preference_suppress > latest_deliverability_suppress)
                then latest_preference_reason
            when is_deliverability_holding then latest_deliverability_reason
        end as reason,
        case
            when latest_erasure > 0 then 'erasure'
            when
                is_preference_holding
                and (not is_deliverability_holding or latest_preference_suppress > latest_deliverability_suppress)
                then 'preference_suppress'
            when is_deliverability_holding then 'deliverability_suppress'
        end as suppression_kind
    from holding

),

with_previous as (

    select
        *,
        lag(reason) over (partition by user_id, channel order by signal_sequence) as previous_reason
    from state_after_signal

),

final as (

    select
        -- ids
        user_id,
        source_event_id,
        request_id,

        -- strings
        channel,
        signal_kind,
        reason,
        previous_reason,
        suppression_kind,

        -- numbers
        signal_sequence,

        -- booleans
        reason is not null as is_suppressed,
        previous_reason is not null as was_suppressed,

        -- timestamps
        signal_at as changed_at

    from with_previous
    where reason is distinct from previous_reason

)

select * from final
