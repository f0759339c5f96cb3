{#
    The privacy team's dashboard, one row per day from the first day with a
    consent, suppression, request or Customer.io event up to as_of's day,
    every number computed from the models that encode the rules:
    - flows count what happened that day (suppressions started, requests
      received and completed, consents granted and withdrawn, actions
      delivered and rejected, opt-outs made);
    - stocks (suppressions_active*, requests_open, requests_overdue*,
      consents_active, consent_records, retention_candidates_due) are the
      state at the end of the day (at as_of for as_of's day), as running
      sums of daily changes: no day replays the event history.
    Rules: suppressions R6-R7, opt-out lag R8, requests R9-R12, consent
    R4-R5, retention R15, acknowledgements R22.
#}
{%- set channels = privacy_vocabulary().suppression.subtypes | reject('equalto', 'all') | list -%}
{%- set suppression_reasons = ['unsubscribed', 'bounced', 'spam_complaint', 'gdpr_request', 'manual_suppression',
                               'invalid_address', 'sms_stop_keyword', 'soft_bounce_threshold', 'consent_withdrawn',
                               'consent_expired', 'objection', 'restriction', 'erasure'] -%}
{%- set request_types = privacy_vocabulary().gdpr_request.subtypes -%}

{#- the daily changes that running sums turn into end-of-day stocks, and the stock each one feeds -#}
{%- set stocks = {'suppressions_active': 'suppressions_active_change'} -%}
{%- for channel in channels -%}
    {%- do stocks.update({'suppressions_active_on_' ~ channel: 'suppressions_active_on_' ~ channel ~ '_change'}) -%}
{%- endfor -%}
{%- for reason in suppression_reasons -%}
    {%- do stocks.update({'suppressions_active_for_' ~ reason: 'suppressions_active_for_' ~ reason ~ '_change'}) -%}
{%- endfor -%}
{%- do stocks.update({'requests_open': 'requests_open_change', 'requests_overdue': 'requests_overdue_change'}) -%}
{%- for request_type in request_types -%}
    {%- do stocks.update({'requests_overdue_' ~ request_type: 'requests_overdue_' ~ request_type ~ '_change'}) -%}
{%- endfor -%}
{%- do stocks.update({
    'consents_active': 'consents_active_change',
    'consent_records': 'consent_records_change',
    'retention_candidates_due': 'retention_candidates_newly_due',
}) -%}

{#- the daily counts shown as they are -#}
{%- set flows = ['suppressions_started'] -%}
{%- for channel in channels -%}{%- do flows.append('suppressions_started_on_' ~ channel) -%}{%- endfor -%}
{%- for reason in suppression_reasons -%}{%- do flows.append('suppressions_started_for_' ~ reason) -%}{%- endfor -%}
{%- do flows.append('suppressions_lifted') -%}
{%- do flows.append('requests_received') -%}
{%- for request_type in request_types -%}{%- do flows.append('requests_received_' ~ request_type) -%}{%- endfor -%}
{%- do flows.append('requests_completed') -%}
{%- for request_type in request_types -%}{%- do flows.append('requests_completed_' ~ request_type) -%}{%- endfor -%}
{%- do flows.extend(['requests_completed_on_time', 'consents_granted', 'consents_withdrawn', 'consents_expired',
                     'retention_candidates_newly_due', 'actions_delivered', 'actions_rejected', 'actions_failed',
                     'opt_outs', 'opt_outs_delivered', 'opt_outs_delivered_within_2_days',
                     'opt_outs_with_known_2_day_outcome']) -%}

with

-- suppressions (R6, R7): every change of a user's channel, replayed
suppression_transitions as (

    select
        channel,
        reason,
        previous_reason,
        is_suppressed,
        was_suppressed,
        changed_at
    from {{ ref('int_suppression_transitions') }}

),

suppressions_daily as (

    select
        cast(changed_at as date) as metric_date,

        sum(case when is_suppressed and not was_suppressed then 1 else 0 end) as suppressions_started,
        {% for channel in channels -%}
            sum(case when is_suppressed and not was_suppressed and channel = '{{ channel }}' then 1 else 0 end)
                as suppressions_started_on_{{ channel }},
        {% endfor -%}
        {% for reason in suppression_reasons -%}
            sum(case when is_suppressed and not was_suppressed and reason = '{{ reason }}' then 1 else 0 end)
                as suppressions_started_for_{{ reason }},
        {% endfor -%}
        sum(case when was_suppressed and not is_suppressed then 1 else 0 end) as suppressions_lifted,

        -- +1 for the state a change enters, -1 for the state it leaves
        sum(case when is_suppressed then 1 else 0 end - case when was_suppressed then 1 else 0 end)
            as suppressions_active_change,
        {% for channel in channels -%}
            sum(
                case when channel = '{{ channel }}' and is_suppressed then 1 else 0 end
                - case when channel = '{{ channel }}' and was_suppressed then 1 else 0 end
            ) as suppressions_active_on_{{ channel }}_change,
        {% endfor -%}
        {% for reason in suppression_reasons -%}
            sum(
                case when reason = '{{ reason }}' then 1 else 0 end
                - case when previous_reason = '{{ reason }}' then 1 else 0 end
            ) as suppressions_active_for_{{ reason }}_change{% if not loop.last %},{% endif %}
        {% endfor %}
    from suppression_transitions
    group by cast(changed_at as date)

),

-- data subject requests (R9-R12)
requests as (

    select
        dsr_requests.request_type,
        dsr_requests.received_at,
        dsr_requests.completed_at,
        dsr_requests.completed_on_time,
        dsr_requests.processing_hours,
        dsr_requests.due_at,
        -- closed (completed or cancelled) when its latest event was
        case when dsr_requests.is_closed then request_events.latest_event_at end as closed_at
    from {{ ref('dsr_requests') }} as dsr_requests
    inner join {{ ref('int_dsr_requests') }} as request_events
        on dsr_requests.request_id = request_events.request_id

),

requests_judged as (

    select
        *,
        -- R12: overdue from due_at until closed; counted on days that end overdue
        due_at < {{ as_of() }}
        and (closed_at is null or cast(closed_at as date) > cast(due_at as date)) as is_overdue_at_a_day_end
    from requests

),

request_milestones as (

    select
        request_type,
        cast(received_at as date) as metric_date,
        1 as received,
        0 as completed,
        0 as completed_on_time,
        cast(null as double) as processing_hours,
        1 as open_change,
        0 as overdue_change
    from requests_judged

    union all

    select
        request_type,
        cast(completed_at as date) as metric_date,
        0 as received,
        1 as completed,
        case when completed_on_time then 1 else 0 end as completed_on_time,
        processing_hours,
        0 as open_change,
        0 as overdue_change
    from requests_judged
    where completed_at is not null

    union all

    select
        request_type,
        cast(closed_at as date) as metric_date,
        0 as received,
        0 as completed,
        0 as completed_on_time,
        null as processing_hours,
        -1 as open_change,
        case when is_overdue_at_a_day_end then -1 else 0 end as overdue_change
    from requests_judged
    where closed_at is not null

    union all

    select
        request_type,
        cast(due_at as date) as metric_date,
        0 as received,
        0 as completed,
        0 as completed_on_time,
        null as processing_hours,
        0 as open_change,
        1 as overdue_change
    from requests_judged
    where is_overdue_at_a_day_end

),

requests_daily as (

    select
        metric_date,
        sum(received) as requests_received,
        {% for request_type in request_types -%}
            sum(case when request_type = '{{ request_type }}' then received else 0 end)
                as requests_received_{{ request_type }},
        {% endfor -%}
        sum(completed) as requests_completed,
        {% for request_type in request_types -%}
            sum(case when request_type = '{{ request_type }}' then completed else 0 end)
                as requests_completed_{{ request_type }},
        {% endfor -%}
        sum(completed_on_time) as requests_completed_on_time,
        sum(processing_hours) as processing_hours_total,
        sum(open_change) as requests_open_change,
        sum(overdue_change) as requests_overdue_change,
        {% for request_type in request_types -%}
            sum(case when request_type = '{{ request_type }}' then overdue_change else 0 end)
                as requests_overdue_{{ request_type }}_change{% if not loop.last %},{% endif %}
        {% endfor %}
    from request_milestones
    group by metric_date

),

-- consent (R4, R5): intervals of every user and consent type
consent_intervals as (

    select
        status,
        is_expiry_interval,
        event_sequence,
        valid_from,
        valid_to
    from {{ ref('consent_history') }}

),

consent_starts_daily as (

    select
        cast(valid_from as date) as metric_date,
        sum(case when status = 'granted' and not is_expiry_interval then 1 else 0 end) as consents_granted,
        sum(case when status = 'withdrawn' then 1 else 0 end) as consents_withdrawn,
        -- explicit expiry events and grants that lapsed at their expiry
        sum(case when status = 'expired' then 1 else 0 end) as consents_expired,
        sum(case when status = 'granted' then 1 else 0 end) as consents_active_started,
        -- a user's first decision on a consent type
        sum(case when event_sequence = 1 and not is_expiry_interval then 1 else 0 end) as consent_records_change
    from consent_intervals
    group by cast(valid_from as date)

),

consent_ends_daily as (

    select
        cast(valid_to as date) as metric_date,
        count(*) as consents_active_ended
    from consent_intervals
    where status = 'granted' and valid_to is not null
    group by cast(valid_to as date)

),

-- Customer.io acknowledgements (R22); delivered and rejected are final, one per action
actions_daily as (

    select
        cast(acked_at as date) as metric_date,
        count(distinct case when status = 'delivered' then action_id end) as actions_delivered,
        count(distinct case when status = 'rejected' then action_id end) as actions_rejected,
        count(distinct case when status = 'failed' then action_id end) as actions_failed
    from {{ ref('stg_customerio_acks') }}
    where acked_at <= {{ as_of() }}
    group by cast(acked_at as date)

),

-- opt-out lag (R8), by the day of the opt-out
opt_outs_daily as (

    select
        cast(opted_out_at as date) as metric_date,
        count(*) as opt_outs,
        sum(case when is_delivered then 1 else 0 end) as opt_outs_delivered,
        sum(case when is_delivered_within_2_days then 1 else 0 end) as opt_outs_delivered_within_2_days,
        sum(case when is_2_day_outcome_known then 1 else 0 end) as opt_outs_with_known_2_day_outcome,
        -- to 1e-6 hours (3.6 ms): the engines interpolate with different rounding errors
        round(percentile_cont(0.5) within group (order by lag_hours), 6) as opt_out_lag_p50_hours,
        round(percentile_cont(0.95) within group (order by lag_hours), 6) as opt_out_lag_p95_hours
    from {{ ref('int_opt_outs') }}
    group by cast(opted_out_at as date)

),

bounds as (

    select
        min(first_day) as first_day,
        cast({{ as_of() }} as date) as last_day
    from (
        select min(metric_date) as first_day from suppressions_daily
        union all
        select min(metric_date) from requests_daily
        union all
        select min(metric_date) from consent_starts_daily
        union all
        select min(metric_date) from actions_daily
    ) as first_days

),

-- R15: due candidates by the day their retention ended (earlier days on the first row)
retention_daily as (

    select
        greatest(due_days.metric_date, bounds.first_day) as metric_date,
        sum(due_days.candidates) as retention_candidates_newly_due
    from (
        select
            cast(retention_expires_at as date) as metric_date,
            count(*) as candidates
        from {{ ref('retention_candidates') }}
        where is_due
        group by cast(retention_expires_at as date)
    ) as due_days
    cross join bounds
    group by greatest(due_days.metric_date, bounds.first_day)

),

days as (

    {{ day_spine('first_day', 'last_day', 'bounds', 'metric_date') }}

),

daily as (

    select
        days.metric_date,
        {% for column in flows | reject('in', ['retention_candidates_newly_due']) -%}
            coalesce({{ column }}, 0) as {{ column }},
        {% endfor -%}
        {% for stock, change in stocks.items() if change not in flows
            and change not in ['consents_active_change'] -%}
            coalesce({{ change }}, 0) as {{ change }},
        {% endfor -%}
        coalesce(retention_daily.retention_candidates_newly_due, 0) as retention_candidates_newly_due,
        coalesce(consent_starts_daily.consents_active_started, 0)
        - coalesce(consent_ends_daily.consents_active_ended, 0) as consents_active_change,
        coalesce(requests_daily.processing_hours_total, 0) as processing_hours_total,
        opt_outs_daily.opt_out_lag_p50_hours,
        opt_outs_daily.opt_out_lag_p95_hours
    from days
    left join suppressions_daily on days.metric_date = suppressions_daily.metric_date
    left join requests_daily on days.metric_date = requests_daily.metric_date
    left join consent_starts_daily on days.metric_date = consent_starts_daily.metric_date
    left join consent_ends_daily on days.metric_date = consent_ends_daily.metric_date
    left join actions_daily on days.metric_date = actions_daily.metric_date
    left join opt_outs_daily on days.metric_date = opt_outs_daily.metric_date
    left join retention_daily on days.metric_date = retention_daily.metric_date

),

running as (

    select
        *,
        {% for stock, change in stocks.items() -%}
            sum({{ change }}) over days_so_far as {{ stock }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from daily
    window days_so_far as (order by metric_date rows between unbounded preceding and current row)

),

final as (

    select
        metric_date,

        -- suppressions (R6, R7): user-channels, started and lifted that day
        {% for column in flows if column.startswith('suppressions_') -%}
            cast({{ column }} as bigint) as {{ column }},
        {% endfor %}
        -- suppressions: user-channels suppressed at the end of the day
        {% for stock in stocks if stock.startswith('suppressions_') -%}
            cast({{ stock }} as bigint) as {{ stock }},
        {% endfor %}
        -- data subject requests (R9-R12): received and completed that day
        {% for column in flows if column.startswith('requests_') -%}
            cast({{ column }} as bigint) as {{ column }},
        {% endfor %}
        cast(processing_hours_total as double) as processing_hours_total,
        cast(processing_hours_total / nullif(requests_completed, 0) as double) as avg_processing_hours,
        cast(requests_completed_on_time / nullif(requests_completed, 0) as double) as on_time_rate,
        -- data subject requests: open and overdue at the end of the day
        {% for stock in stocks if stock.startswith('requests_') -%}
            cast({{ stock }} as bigint) as {{ stock }},
        {% endfor %}
        -- consent (R4, R5)
        cast(consents_granted as bigint) as consents_granted,
        cast(consents_withdrawn as bigint) as consents_withdrawn,
        cast(consents_expired as bigint) as consents_expired,
        cast(consents_active as bigint) as consents_active,
        cast(consent_records as bigint) as consent_records,
        cast(consents_active / nullif(consent_records, 0) as double) as consent_rate,

        -- retention (R15)
        cast(retention_candidates_newly_due as bigint) as retention_candidates_newly_due,
        cast(retention_candidates_due as bigint) as retention_candidates_due,

        -- Customer.io actions (R22)
        cast(actions_delivered as bigint) as actions_delivered,
        cast(actions_rejected as bigint) as actions_rejected,
        cast(actions_failed as bigint) as actions_failed,

        -- opt-out lag (R8), opt-outs made that day
        cast(opt_outs as bigint) as opt_outs,
        cast(opt_outs_delivered as bigint) as opt_outs_delivered,
        cast(opt_outs_delivered_within_2_days as bigint) as opt_outs_delivered_within_2_days,
        cast(opt_outs_with_known_2_day_outcome as bigint) as opt_outs_with_known_2_day_outcome,
        cast(opt_out_lag_p50_hours as double) as opt_out_lag_p50_hours,
        cast(opt_out_lag_p95_hours as double) as opt_out_lag_p95_hours,
        cast(opt_outs_delivered_within_2_days / nullif(opt_outs_with_known_2_day_outcome, 0) as double)
            as opt_out_share_within_2_days

    from running

)

select * from final
