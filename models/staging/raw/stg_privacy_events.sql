{#
    Every raw privacy row, cleaned, with its fate decided once:
    - R1: rows sharing an event_id are one event; the latest processed_at wins,
      the others are marked 'duplicate'.
    - R2: a kept row that cannot be trusted is marked 'rejected' with exactly
      one reason (the first that applies, in the order of privacy-rules.md).
    Nothing is filtered here, so raw = accepted + rejected + duplicate holds by
    construction and is tested (data-tests/assert_every_raw_event_accounted_for).

    Incremental (macros/incremental.sql): a run recomputes every delivery of
    the event_ids with a new delivery or a row to judge again at this as_of
    (below), and replaces exactly those rows (on Spark: the month partitions
    holding them).
#}
{{ config(
    materialized='incremental',
    on_schema_change='fail',
    log_users_of_vanished_rows=['user_id', 'event_type', 'event_subtype'],
    **incremental_by_key_config(
        key_column='event_id', time_column='event_timestamp', partition_column='event_month',
        delivery_column='processed_at'
    )
) }}
{%- do log_every_user_when_rebuilt() %}
{%- set vocabulary = privacy_vocabulary() -%}
{%- set future_limit = timestamp_add('hour', var('future_tolerance_hours', 24), as_of()) -%}

{#-
    R2's future_timestamp is the only judgement that depends on as_of: a row
    passes it when its event_timestamp is at or before the limit (as_of plus
    the tolerance). Every stored row was judged at the limit of the run that
    last built this model (rows outside the band below kept their verdict
    then too), so only rows between that limit and this run's can change:
    they are judged again, forwards and in a replay of an earlier as_of.
    The last limit comes from the as_of in the model's own watermark
    (DuckDB); without one, every row past the earlier of this limit and the
    latest accepted event_timestamp is judged again (an accepted row passed
    its own limit, so rows up to the latest accepted one pass any later
    limit).
-#}
{%- set mark = own_watermark() if is_incremental() else none -%}
{%- if mark is not none and mark.own_as_of is not none -%}
    {%- set last_limit = timestamp_add(
        'hour', var('future_tolerance_hours', 24), "cast('" ~ mark.own_as_of ~ "' as timestamp)"
    ) -%}
    {%- set judged_again_at_this_as_of -%}
        event_timestamp > least({{ last_limit }}, {{ future_limit }})
        and event_timestamp <= greatest({{ last_limit }}, {{ future_limit }})
    {%- endset -%}
{%- else -%}
    {%- set judged_again_at_this_as_of -%}
        event_timestamp > (
            select least(coalesce(max(event_timestamp), cast('0001-01-01 00:00:00' as timestamp)), {{ future_limit }})
            from {{ this }}
            where disposition = 'accepted'
        )
    {%- endset -%}
{%- endif %}

with

-- the rows to stage: copied once when few (an incremental run), read again
-- by each reader below when they are the whole raw table (macros/cte_hints.sql)
source as {{ materialized_cte() if is_incremental() else inlined_cte() }} (

    {% if is_incremental() -%}
        {{ rebuilt_source(
            source_relation=source('raw', 'privacy_events'),
            time_column='event_timestamp',
            key_column='event_id',
            delivery_column='processed_at',
            judged_again_where=judged_again_at_this_as_of,
        ) }}
    {%- else -%}
        select * from {{ source('raw', 'privacy_events') }}
    {%- endif %}

),

-- R1: only event_ids delivered more than once need ranking; ranking the
-- few of them instead of every row keeps the full build to one pass
redelivered as {{ materialized_cte() }} (

    select {{ trimmed("event_id") }} as event_id
    from source
    where {{ trimmed("event_id") }} is not null
    group by 1
    having count(*) > 1

),

cleaned as {{ inlined_cte() }} (

    select
        -- ids
        {{ trimmed("event_id") }} as event_id,
        {{ trimmed("user_id") }} as user_id,
        -- R1: ranked below with the other deliveries of its event_id
        coalesce(
            {{ trimmed("event_id") }} in (select event_id from redelivered), false
        ) as is_redelivered,

        -- strings
        lower({{ trimmed("event_type") }}) as event_type,
        {{ trimmed("event_subtype") }} as event_subtype,
        lower({{ trimmed("status") }}) as status,
        lower({{ trimmed("reason") }}) as reason,
        {{ trimmed("requested_by") }} as requested_by,

        -- timestamps
        event_timestamp,
        processed_at,

        -- metadata, with the keys R2 judges and the consent proof pulled
        -- out (the map itself is kept below only where a later model reads
        -- other keys)
        metadata,
        {{ trimmed("metadata['version']") }} as consent_version,
        {{ trimmed("metadata['purpose']") }} as consent_purpose,
        {{ trimmed("metadata['collection_method']") }} as collection_method,
        {{ trimmed("metadata['ip_address']") }} as ip_address,
        {{ trimmed("metadata['user_agent']") }} as user_agent,
        {{ trimmed("metadata['request_id']") }} as request_id,
        lower({{ trimmed("metadata['regulation']") }}) as regulation_given,
        {{ trimmed("metadata['expires_at']") }} as expires_at_text,
        lower({{ trimmed("metadata['bounce_type']") }}) as bounce_type,
        lower({{ trimmed("metadata['exemption']") }}) as exemption

    from source

),

typed as {{ inlined_cte() }} (

    select
        *,
        -- the vocabulary's subtypes are lower-case words; hold and retention
        -- subtypes are free text and kept as written
        case
            when event_type in ('consent', 'suppression', 'gdpr_request') then lower(event_subtype)
            else event_subtype
        end as event_subtype_clean,
        try_cast(expires_at_text as timestamp) as expires_at
    from cleaned

),

deduplicated as (

    select
        *,
        1 as delivery_rank
    from typed
    where not is_redelivered

    union all

    select
        *,
        row_number() over (
            partition by event_id
            order by
                processed_at desc nulls last,
                event_timestamp desc nulls last,
                user_id asc, event_type asc, event_subtype asc, status asc,
                reason asc, requested_by asc
        ) as delivery_rank
    from typed
    where is_redelivered

),

validated as (

    select
        *,
        coalesce(event_type in {{ sql_values(vocabulary.keys() | list) }}, false) as is_known_type,
        coalesce(
            case event_type
                {% for event_type, rules in vocabulary.items() if rules.subtypes %}
                    when '{{ event_type }}' then event_subtype_clean in {{ sql_values(rules.subtypes) }}
                {% endfor %}
                else event_subtype_clean is not null
            end,
            false
        ) as is_valid_subtype,
        coalesce(
            case event_type
                {% for event_type, rules in vocabulary.items() if rules.statuses %}
                    when '{{ event_type }}' then status in {{ sql_values(rules.statuses) }}
                {% endfor %}
                else status is not null
            end,
            false
        ) as is_valid_status,
        coalesce(bounce_type not in {{ sql_values(bounce_types()) }}, false)
        or coalesce(exemption not in {{ sql_values(gdpr_exemptions()) }}, false)
        or (expires_at_text is not null and expires_at is null) as has_invalid_metadata
    from deduplicated

),

judged as (

    select
        *,
        case
            when delivery_rank > 1 then null
            when event_id is null then 'missing_event_id'
            when user_id is null then 'missing_user_id'
            when not is_known_type then 'unknown_event_type'
            when not is_valid_subtype then 'invalid_subtype'
            when not is_valid_status then 'invalid_status'
            when event_timestamp is null then 'missing_timestamp'
            when event_timestamp > {{ future_limit }} then 'future_timestamp'
            when event_type = 'gdpr_request' and request_id is null then 'missing_request_id'
            when
                event_type = 'gdpr_request'
                and not coalesce(regulation_given in {{ sql_values(regulations()) }}, true)
                then 'unknown_regulation'
            when has_invalid_metadata then 'invalid_metadata'
        end as rejection_reason
    from validated

),

final as (

    select
        -- ids
        event_id,
        user_id,
        request_id,

        -- strings
        event_type,
        event_subtype_clean as event_subtype,
        status,
        reason,
        requested_by,
        case
            when event_type = 'gdpr_request' then coalesce(regulation_given, 'gdpr')
        end as regulation,
        bounce_type,
        exemption,

        -- consent proof (Art. 7(1)), from the map
        consent_version,
        consent_purpose,
        collection_method,
        ip_address,
        user_agent,

        case
            when delivery_rank > 1 then 'duplicate'
            when rejection_reason is not null then 'rejected'
            else 'accepted'
        end as disposition,
        rejection_reason,

        -- timestamps
        event_timestamp,
        processed_at,
        expires_at,

        -- the raw map, for the keys read later (rectify.<trait>) and for the
        -- quarantine; not on accepted consent events, whose keys are the
        -- proof above (ten million maps would double the bytes written)
        case
            when delivery_rank = 1 and rejection_reason is null and event_type = 'consent' then null
            else metadata
        end as metadata,

        -- when this row was (re)written here: the start of that dbt run; the
        -- per-user models recompute the users of rows written since their
        -- own last run (macros/incremental_by_user.sql)
        {{ run_started_timestamp() }} as staged_at,

        -- storage: the month partition on Spark and Databricks (last, as
        -- Spark stores partition columns)
        {{ month_of('event_timestamp') }} as event_month

    from judged

)

select * from final
