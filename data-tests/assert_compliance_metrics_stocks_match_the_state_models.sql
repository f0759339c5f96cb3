{#
    compliance_metrics_daily's end-of-day counts are running sums of daily
    changes; on the day of as_of they must equal the state models at
    as_of: suppressions by channel and reason (suppression_state, R7), open
    and overdue requests by type (dsr_requests, R12), active consents and
    consent records (consent_state, R4), due retention candidates
    (retention_candidates, R15). Returns each count that differs.
#}
{%- set channels = privacy_vocabulary().suppression.subtypes | reject('equalto', 'all') | list -%}
{%- set suppression_reasons = ['unsubscribed', 'bounced', 'spam_complaint', 'gdpr_request', 'manual_suppression',
                               'invalid_address', 'sms_stop_keyword', 'soft_bounce_threshold', 'consent_withdrawn',
                               'consent_expired', 'objection', 'restriction', 'erasure'] -%}
{%- set request_types = privacy_vocabulary().gdpr_request.subtypes -%}

with

last_day as (

    select * from {{ ref('compliance_metrics_daily') }}
    where metric_date = cast({{ as_of() }} as date)

),

suppressions as (

    select
        count(*) as suppressions_active,
        {% for channel in channels -%}
            coalesce(sum(case when channel = '{{ channel }}' then 1 else 0 end), 0)
                as suppressions_active_on_{{ channel }},
        {% endfor -%}
        {% for reason in suppression_reasons -%}
            coalesce(sum(case when reason = '{{ reason }}' then 1 else 0 end), 0)
                as suppressions_active_for_{{ reason }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from {{ ref('suppression_state') }}
    where is_suppressed

),

requests as (

    select
        coalesce(sum(case when not is_closed then 1 else 0 end), 0) as requests_open,
        coalesce(sum(case when is_overdue then 1 else 0 end), 0) as requests_overdue,
        {% for request_type in request_types -%}
            coalesce(sum(case when is_overdue and request_type = '{{ request_type }}' then 1 else 0 end), 0)
                as requests_overdue_{{ request_type }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from {{ ref('dsr_requests') }}

),

consents as (

    select
        coalesce(sum(case when is_granted then 1 else 0 end), 0) as consents_active,
        count(*) as consent_records
    from {{ ref('consent_state') }}

),

retention as (

    select count(*) as retention_candidates_due
    from {{ ref('retention_candidates') }}
    where is_due

),

expected as (

    select * from suppressions
    cross join requests
    cross join consents
    cross join retention

),

{%- set compared = ['suppressions_active'] -%}
{%- for channel in channels -%}{%- do compared.append('suppressions_active_on_' ~ channel) -%}{%- endfor -%}
{%- for reason in suppression_reasons -%}{%- do compared.append('suppressions_active_for_' ~ reason) -%}{%- endfor -%}
{%- do compared.extend(['requests_open', 'requests_overdue']) -%}
{%- for request_type in request_types -%}{%- do compared.append('requests_overdue_' ~ request_type) -%}{%- endfor -%}
{%- do compared.extend(['consents_active', 'consent_records', 'retention_candidates_due']) %}

final as (

    {% for column in compared -%}
        select
            '{{ column }}' as metric,
            last_day.{{ column }} as metric_value,
            expected.{{ column }} as state_value
        from expected
        left join last_day on 1 = 1
        where last_day.{{ column }} is null or last_day.{{ column }} != expected.{{ column }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from final
