{#
    Seeds on Spark: empty CSV cells load as null, as they do on DuckDB and
    Databricks. dbt-spark binds every cell as a parameter, and its session
    method (local Spark, `method: session`) formats a None parameter as the
    text 'None', so an empty cell became the string 'None' in a string
    column (consent_purposes.channel, customerio_topic_id). This override of
    dbt-spark's spark__load_csv_rows writes a typed null literal for an
    empty cell and binds the rest as before. Databricks is not affected: its
    own databricks__load_csv_rows is found first.
#}
{% macro spark__load_csv_rows(model, agate_table) %}

    {% set batch_size = get_batch_size() %}
    {% set column_override = model['config'].get('column_types', {}) %}

    {% set statements = [] %}

    {% for chunk in agate_table.rows | batch(batch_size) %}
        {% set bindings = [] %}

        {% set sql %}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                    {%- set type = column_override.get(col_name, inferred_type) -%}
                    {%- set value = row[loop.index0] -%}
                    {%- if value is none -%}
                        cast(null as {{ type }})
                    {%- else -%}
                        {%- do bindings.append(value) -%}
                        cast({{ get_binding_char() }} as {{ type }})
                    {%- endif -%}
                    {%- if not loop.last %},{% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor %}
        {% endset %}

        {% do adapter.add_query(sql, bindings=bindings, abridge_sql_log=True) %}

        {% if loop.index0 == 0 %}
            {% do statements.append(sql) %}
        {% endif %}
    {% endfor %}

    {{ return(statements[0]) }}

{% endmacro %}
