{#
    R4, R6: every consent type of the event vocabulary has one row in the
    consent_purposes seed, and an expiry, when given, is a positive number of
    days. A type missing from the seed would silently never expire and never
    govern a channel. Returns the offending consent types.
#}
{%- set consent_types = privacy_vocabulary().consent.subtypes -%}

with

vocabulary as (

    {% for consent_type in consent_types %}
        select '{{ consent_type }}' as consent_type
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

purposes as (

    select * from {{ ref('consent_purposes') }}

),

final as (

    select
        vocabulary.consent_type,
        case
            when purposes.consent_type is null then 'missing from consent_purposes'
            when purposes.default_expiry_days <= 0 then 'default_expiry_days must be positive'
        end as problem
    from vocabulary
    left join purposes on vocabulary.consent_type = purposes.consent_type

)

select * from final
where problem is not null
