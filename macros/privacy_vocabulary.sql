{#
    The accepted vocabulary of privacy_events (privacy-rules.md, R2). Anything
    outside it is quarantined by stg_privacy_events. legal_hold and
    data_retention take any non-empty subtype; data_retention any non-empty
    status.
#}
{% macro privacy_vocabulary() -%}
    {{ return({
        'consent': {
            'subtypes': ['email_marketing', 'sms_marketing', 'push_notifications', 'data_analytics',
                         'third_party_sharing', 'cookies', 'behavioral_tracking'],
            'statuses': ['granted', 'withdrawn', 'expired', 'pending'],
        },
        'suppression': {
            'subtypes': ['email', 'sms', 'push', 'in_app', 'all'],
            'statuses': ['active', 'removed'],
        },
        'gdpr_request': {
            'subtypes': ['access', 'deletion', 'portability', 'rectification', 'restriction', 'objection'],
            'statuses': ['pending', 'verified', 'processing', 'extended', 'completed', 'failed', 'cancelled'],
        },
        'legal_hold': {
            'subtypes': none,
            'statuses': ['active', 'released'],
        },
        'data_retention': {
            'subtypes': none,
            'statuses': none,
        },
    }) }}
{%- endmacro %}

{% macro regulations() -%}
    {{ return(['gdpr', 'ccpa']) }}
{%- endmacro %}

{% macro gdpr_exemptions() -%}
    {{ return(['art17_3_a', 'art17_3_b', 'art17_3_c', 'art17_3_d', 'art17_3_e']) }}
{%- endmacro %}

{% macro bounce_types() -%}
    {{ return(['hard', 'soft']) }}
{%- endmacro %}

{# A SQL list literal: ('a', 'b'). #}
{% macro sql_values(values) -%}
    ({% for value in values %}'{{ value }}'{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}
