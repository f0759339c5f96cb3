{#
    No count, sum of hours or lag in compliance_metrics_daily is negative
    (a negative end-of-day count would mean a change was taken away twice),
    and every rate or share (columns ending in _rate, opt_out_share_*) lies
    between 0 and 1. The columns come from the model's contract, so a new
    column is checked without editing this test. Returns the offending
    days and columns.
#}
{%- set numeric_columns = [] -%}
{%- if execute -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.name == 'compliance_metrics_daily' -%}
        {%- for column in node.columns.values() if column.data_type in ['bigint', 'double'] -%}
            {%- do numeric_columns.append(column.name) -%}
        {%- endfor -%}
    {%- endfor -%}
{%- endif %}

with

metrics as (

    select * from {{ ref('compliance_metrics_daily') }}

),

final as (

    {% if numeric_columns %}
        {% for column in numeric_columns %}
            select
                metric_date,
                '{{ column }}' as metric,
                cast({{ column }} as double) as metric_value
            from metrics
            where
                {{ column }} < 0
                {% if column.endswith('_rate') or column.startswith('opt_out_share_') %}
                    or {{ column }} > 1
                {% endif %}
            {% if not loop.last %}union all{% endif %}
        {% endfor %}
    {% else %}
        -- no contract columns found: fail rather than pass checking nothing
        select
            cast(null as date) as metric_date,
            'no numeric column in the contract of compliance_metrics_daily' as metric,
            cast(null as double) as metric_value
    {% endif %}

)

select * from final
