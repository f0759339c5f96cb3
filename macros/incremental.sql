{#
    Incremental models of append-only, at-least-once event tables.

    An incremental run recomputes every row whose result may differ from the
    last run and replaces it; everything else is left as it is. Inside what is
    recomputed nothing differs from a full refresh, so an incremental run gives
    the rows a full refresh gives as long as it recomputes enough. Three things
    make a stored row stale:

    1. new raw rows: found by time slice, without any watermark (a bad row can
       carry a processed_at years ahead): a slice changed when the raw table
       and the model hold a different number of rows in it;
    2. the model's own time dependence, named by the model
       (`judged_again_where`, a predicate on its stored rows);
    3. its key: every delivery of an event is recomputed together, because R1
       ranks all deliveries of an event_id against each other.

    How rows are replaced differs by engine:

    - DuckDB replaces by key (strategy `replace_keys` below): it recomputes all
      deliveries of the event_ids with a new delivery in a changed slice or a
      stored row to judge again, and deletes and inserts exactly those (rows
      without a key, by time slice). A slice is a UTC day of the delivery
      time (processed_at), not of the event's own time: a redelivery of an
      old event lands in today's slice, so a daily batch changes a few
      slices instead of one per day its redeliveries reach back to.
    - Spark (parquet: no delete, no merge) overwrites whole partitions, so it
      recomputes whole slices: a slice is a month (the `event_month`
      partition; daily partitions would make thousands of small files), and
      the set of slices is closed under the key. Databricks (Delta) does the
      same with day slices and INSERT ... REPLACE WHERE (strategy
      `replace_time_slices`), which needs no self-referencing view. Both
      replace only the slices their new rows fall in, so a slice whose raw
      rows were all deleted is emptied first (empty_time_slices).
#}

{# The slice a timestamp falls in, as a date. #}
{% macro time_slice(timestamp) -%}
    {{ return(adapter.dispatch('time_slice', 'customerio_privacy')(timestamp)) }}
{%- endmacro %}

{% macro default__time_slice(timestamp) -%}
    cast({{ timestamp }} as date)
{%- endmacro %}

{% macro spark__time_slice(timestamp) -%}
    cast(date_trunc('MONTH', {{ timestamp }}) as date)
{%- endmacro %}

{% macro databricks__time_slice(timestamp) -%}
    cast({{ timestamp }} as date)
{%- endmacro %}

{#
    The month a timestamp falls in, as the date of its first day: the storage
    partition of the large tables on Spark and Databricks. A redelivery keeps
    its event's time, so it rewrites only the partition it belongs to.
#}
{% macro month_of(timestamp) -%}
    cast(date_trunc('MONTH', {{ timestamp }}) as date)
{%- endmacro %}

{#
    Model configs (pass them whole: `config(..., **incremental_by_key_config(...))`)
    so that each engine gets its strategy (see the top of this file).

    by key: the model recomputes whole keys (all deliveries of an event, all
    versions of a profile); on DuckDB its rows without a key are replaced by
    slices of the delivery column. By time slice: the model's rows map one to
    one to raw rows, and it recomputes whole slices.
#}
{% macro incremental_by_key_config(key_column, time_column, partition_column, delivery_column) -%}
    {%- if target.type == 'spark' -%}
        {%- do return({
            'incremental_strategy': 'insert_overwrite',
            'partition_by': [partition_column],
        }) -%}
    {%- elif target.type == 'databricks' -%}
        {%- do return({
            'incremental_strategy': 'replace_time_slices',
            'partition_by': [partition_column],
            'time_slice_column': time_column,
        }) -%}
    {%- else -%}
        {%- do return({
            'incremental_strategy': 'replace_keys',
            'unique_key': key_column,
            'time_slice_column': delivery_column,
            'replace_rebuilt': true,
        }) -%}
    {%- endif -%}
{%- endmacro %}

{% macro incremental_by_time_slice_config(time_column, partition_column) -%}
    {%- if target.type == 'spark' -%}
        {%- do return({
            'incremental_strategy': 'insert_overwrite',
            'partition_by': [partition_column],
        }) -%}
    {%- else -%}
        {%- do return({
            'incremental_strategy': 'replace_time_slices',
            'partition_by': [partition_column] if target.type == 'databricks' else none,
            'time_slice_column': time_column,
            'replace_rebuilt': target.type == 'duckdb',
        }) -%}
    {%- endif -%}
{%- endmacro %}

{#
    How the raw table and the model differ by time slice: `changed`, the
    slices whose row count differs between them, and `vanished`, those of
    them the raw table holds no row of any more (all deleted, as by a
    retention job), as lists of 'YYYY-MM-DD' strings (None: the slice of
    rows without a time). Queries the warehouse; both empty outside an
    incremental run and in one with --empty.
#}
{% macro time_slice_changes(source_relation, time_column) -%}
    {%- set changes = {'changed': [], 'vanished': []} -%}
    {#- with --empty every source reads no row: every stored slice would look vanished -#}
    {%- if not execute or not is_incremental() or flags.EMPTY -%}
        {{ return(changes) }}
    {%- endif -%}
    {%- set query -%}
        with

        counted as (
            select {{ time_slice(time_column) }} as time_slice, count(*) as raw_rows, 0 as stored_rows
            from {{ source_relation }}
            group by 1
            union all
            select {{ time_slice(time_column) }} as time_slice, 0 as raw_rows, count(*) as stored_rows
            from {{ this }}
            group by 1
        )

        select time_slice, sum(raw_rows) = 0 as vanished
        from counted
        group by time_slice
        having sum(raw_rows) != sum(stored_rows)
    {%- endset -%}
    {%- for time_slice, vanished in run_query(query).rows -%}
        {%- set slice = time_slice_text(time_slice) -%}
        {%- do changes.changed.append(slice) -%}
        {%- if vanished -%}
            {%- do changes.vanished.append(slice) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(changes) }}
{%- endmacro %}

{# The slices in the first column of a query's result (time_slice_text()). #}
{% macro time_slices_of(table) -%}
    {%- set slices = [] -%}
    {%- for row in table.rows -%}
        {%- do slices.append(time_slice_text(row[0])) -%}
    {%- endfor -%}
    {{ return(slices) }}
{%- endmacro %}

{# A slice read from the warehouse as 'YYYY-MM-DD', None for the slice of rows without a time. #}
{% macro time_slice_text(value) -%}
    {{ return(none if value is none else value | string) }}
{%- endmacro %}

{#
    A predicate: the time column falls in one of the slices. The slice of rows
    without a time is written as the date 0001-01-01, so that the predicate
    stays one IN list (DuckDB turns it into a hash lookup; with an OR it
    compares every value). A real event on that day would only be rebuilt
    along with the rows without a time, which is harmless.
#}
{% macro time_slice_filter(time_column, slices) -%}
    {%- set literals = time_slice_literals(slices) -%}
    {%- if literals -%}
        ({{ time_slice_or_default(time_column) }} in ({{ literals | join(', ') }}))
    {%- else -%}
        (1 = 0)
    {%- endif -%}
{%- endmacro %}

{# The time slice of a row, 0001-01-01 for a row without a time. #}
{% macro time_slice_or_default(time_column) -%}
    coalesce({{ time_slice(time_column) }}, cast('0001-01-01' as date))
{%- endmacro %}

{# The slices as date literals, the slice without a time as 0001-01-01. #}
{% macro time_slice_literals(slices) -%}
    {%- set literals = [] -%}
    {%- for slice in slices | map('default', '0001-01-01', true) | unique | sort -%}
        {%- do literals.append("cast('" ~ slice ~ "' as date)") -%}
    {%- endfor -%}
    {{ return(literals) }}
{%- endmacro %}

{#
    The raw rows an incremental run recomputes (see the top of this file), as
    a query to put where the model reads its source. Call it only in an
    incremental run (is_incremental()).

    source_relation      the raw table
    time_column          its time column (same name and values in the model)
    key_column           the event key, the same column in raw and model; the
                         model holds it cleaned as staging cleans ids:
                         trimmed(key)
    delivery_column      what tells two deliveries of one key apart (processed_at),
                         the same column and values in the model; on DuckDB
                         also the time whose slices find new rows
    judged_again_where   predicate on the model's stored rows whose result may
                         differ in this run
#}
{% macro rebuilt_source(source_relation, time_column, key_column, delivery_column, judged_again_where) -%}
    {{ return(adapter.dispatch('rebuilt_source', 'customerio_privacy')(
        source_relation, time_column, key_column, delivery_column, judged_again_where
    )) }}
{%- endmacro %}

{#
    DuckDB: all deliveries of the keys with a new delivery (the count of raw
    rows per key and delivery time differs from the stored count, in the
    slices of the delivery time whose counts changed) or with a stored row to
    judge again; rows without a key by changed slice (a row without a key is
    judged on its own, and its judgement does not depend on as_of). Raw keys
    are looked up cleaned as staging cleans them (macros/trimmed.sql), so a
    key padded with spaces finds its other deliveries.

    In run, build and retry the keys and the changed slices are recorded
    (record_rebuilt below) before the model's query runs, and strategy
    `replace_keys` replaces every stored row they name: a key whose raw
    deliveries were all deleted has no new row, and its stored rows go too
    (so do the keyless ones of a slice whose keyless raw rows were all
    deleted). Elsewhere (compile, show) the keys are a CTE.
#}
{% macro default__rebuilt_source(source_relation, time_column, key_column, delivery_column, judged_again_where) -%}
    {%- set changed = time_slice_changes(source_relation, delivery_column).changed -%}
    {%- set cleaned_key = trimmed(key_column) -%}
    {%- set keys_to_rebuild -%}
        -- a key whose count of rows per delivery time differs has a new delivery
        select event_key
        from (
            select
                {{ cleaned_key }} as event_key,
                {{ delivery_column }} as delivered_at,
                1 as raw_rows,
                0 as stored_rows
            from {{ source_relation }}
            where {{ time_slice_filter(delivery_column, changed) }}
            union all
            select
                {{ key_column }} as event_key,
                {{ delivery_column }} as delivered_at,
                0 as raw_rows,
                1 as stored_rows
            from {{ this }}
            where {{ time_slice_filter(delivery_column, changed) }}
        ) as deliveries
        group by event_key, delivered_at
        having sum(raw_rows) != sum(stored_rows)
        union
        select {{ key_column }} as event_key
        from {{ this }}
        where {{ judged_again_where }}
    {%- endset -%}
    {%- set rebuilt = record_rebuilt(changed, keys_to_rebuild) -%}
    {%- set keys = keys_to_rebuild if rebuilt is none else rebuilt_keys(rebuilt) -%}
    -- one scan of the raw table, one lookup of each cleaned key
    select * from {{ source_relation }}
    where
        {{ cleaned_key }} in ({{ keys }})
        or (
            {{ time_slice_filter(delivery_column, changed) }}
            and {{ cleaned_key }} is null
        )
{%- endmacro %}

{#
    What an incremental run of a staging model on DuckDB rebuilds, written
    before its query runs (run, build and retry) to `<model>__rebuilt`: the
    time slices (`changed_slices`, as time_slice_changes() gives them) and
    the keys (`keys_query`, a query of one column; none for a model without
    keys). The strategies of a model with the config `replace_rebuilt`
    replace every stored row it names and drop it: a slice or a key whose
    raw rows were all deleted has no new row, and its stored rows must go
    too. Returns the table (read its keys with rebuilt_keys()), or none
    where nothing is written (builds_on_duckdb()).
#}
{% macro record_rebuilt(changed_slices, keys_query=none) -%}
    {%- if not builds_on_duckdb() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set rebuilt = companion_relation('rebuilt') -%}
    {%- set slices = time_slice_literals(changed_slices) -%}
    {%- set query -%}
        create or replace table {{ rebuilt }} as
        select cast(null as varchar) as rebuilt_key, cast(null as date) as rebuilt_slice
        where false
        {%- if keys_query is not none %}
        union all
        {#- no filter on the keys here: DuckDB would push it down to the raw
            scan and clean every raw key to test it (readers skip the nulls) #}
        select rebuilt_key, null from ({{ keys_query }}) as rebuilt_keys (rebuilt_key)
        {%- endif %}
        {%- for slice in slices %}
        union all
        select null, {{ slice }}
        {%- endfor %}
    {%- endset -%}
    {%- do run_query(query) -%}
    {{ return(rebuilt) }}
{%- endmacro %}

{#
    Spark and Databricks, while the model is built (run, build, retry):
    removes the stored rows of `slices`, those raw holds no row of any more
    (time_slice_changes()). Both engines replace only the slices their new
    rows fall in, and these have none: Spark drops their partitions (a
    slice is the month partition, `partition_by`), Databricks deletes their
    rows (config `time_slice_column`). Before the model's query runs, so a
    reader may see such a slice gone before the others are replaced: raw no
    longer has it either. DuckDB replaces them with the rest
    (record_rebuilt).
#}
{% macro empty_time_slices(slices) -%}
    {%- if slices and writes_model() and target.type != 'duckdb' -%}
        {%- do run_query(empty_time_slices_sql(
            this, slices, config.get('partition_by') | first, config.get('time_slice_column')
        )) -%}
        {{ log(this ~ ': emptied ' ~ slices | length ~ ' time slice(s) raw no longer holds', info=false) }}
    {%- endif -%}
{%- endmacro %}

{#
    The statement that removes the rows of `slices` from `relation`: on
    Spark a drop of their partitions (`partition_column` holds each row's
    slice; a partition is named by literals only), elsewhere a delete by
    `time_column`.
#}
{% macro empty_time_slices_sql(relation, slices, partition_column, time_column) -%}
    {{ return(adapter.dispatch('empty_time_slices_sql', 'customerio_privacy')(
        relation, slices, partition_column, time_column
    )) }}
{%- endmacro %}

{% macro spark__empty_time_slices_sql(relation, slices, partition_column, time_column) -%}
    {%- set partitions = [] -%}
    {%- for slice in slices -%}
        {%- do partitions.append(
            'partition (' ~ partition_column ~ ' = ' ~ ('null' if slice is none else "date '" ~ slice ~ "'") ~ ')'
        ) -%}
    {%- endfor -%}
    alter table {{ relation }} drop if exists {{ partitions | join(', ') }}
{%- endmacro %}

{% macro default__empty_time_slices_sql(relation, slices, partition_column, time_column) -%}
    delete from {{ relation }} where {{ time_slice_filter(time_column, slices) }}
{%- endmacro %}

{# Databricks slices are days of month partitions: a delete, not spark__'s partition drop. #}
{% macro databricks__empty_time_slices_sql(relation, slices, partition_column, time_column) -%}
    {{ return(default__empty_time_slices_sql(relation, slices, partition_column, time_column)) }}
{%- endmacro %}

{# The keys in a table record_rebuilt() wrote, as a query. #}
{% macro rebuilt_keys(rebuilt) -%}
    select rebuilt_key from {{ rebuilt }} where rebuilt_key is not null
{%- endmacro %}

{#
    Spark and Databricks: whole slices, the changed ones and those holding a
    stored row to judge again, closed under the key (when one delivery of an
    event is recomputed, the slices of its other deliveries are too: those
    of the keys in the slices' raw rows and in their stored rows, so that a
    deleted delivery, the winner perhaps, has its siblings judged again). A
    redelivery usually keeps its event's time, so the closure rarely adds
    anything; it is computed here, in Jinja, so that the model's SQL never
    reads the table it overwrites. The slices raw no longer holds are
    emptied once the closure has read their stored keys.
#}
{% macro spark__rebuilt_source(source_relation, time_column, key_column, delivery_column, judged_again_where) -%}
    {%- if not execute -%}
        {{ return('select * from ' ~ source_relation) }}
    {%- endif -%}
    {%- set changes = time_slice_changes(source_relation, time_column) -%}
    {%- set slices = changes.changed -%}
    {%- set judged_again -%}
        select distinct {{ time_slice(time_column) }} from {{ this }} where {{ judged_again_where }}
    {%- endset -%}
    {%- set slices = slices + time_slices_of(run_query(judged_again)) -%}

    {%- set state = namespace(slices=slices | unique | list, fresh=slices | unique | list) -%}
    {%- for _ in range(20) if state.fresh -%}
        {%- set siblings -%}
            select distinct {{ time_slice('stored.' ~ time_column) }}
            from {{ this }} as stored
            where stored.{{ key_column }} in (
                select {{ trimmed(key_column) }}
                from {{ source_relation }}
                where {{ time_slice_filter(time_column, state.fresh) }}
                union all
                select {{ key_column }}
                from {{ this }}
                where {{ time_slice_filter(time_column, state.fresh) }}
            )
        {%- endset -%}
        {%- set state.fresh = time_slices_of(run_query(siblings)) | reject('in', state.slices) | list -%}
        {%- set state.slices = state.slices + state.fresh -%}
    {%- endfor -%}
    {%- if state.fresh -%}
        {{ exceptions.raise_compiler_error(
            this ~ ': the slices sharing event keys did not settle in 20 rounds; run with --full-refresh'
        ) }}
    {%- endif -%}
    {%- do empty_time_slices(changes.vanished) -%}
    {{ log(this ~ ': rebuilding ' ~ state.slices | length ~ ' time slice(s)', info=false) }}
    {{ return('select * from ' ~ source_relation ~ ' where ' ~ time_slice_filter(time_column, state.slices)) }}
{%- endmacro %}

{#
    Incremental strategy `replace_keys` (DuckDB). With the model config
    `replace_rebuilt` (a model that reads rebuilt_source()), the stored rows
    of every key and slice the run rebuilt (record_rebuilt) are replaced by
    the new rows, which hold only those keys and, without a key, those
    slices: a key whose raw rows were all deleted leaves none. Otherwise the
    new rows replace every stored row with a key among them, and rows
    without a key are replaced by the time slices (model config
    `time_slice_column`, if any) of the keyless new rows.
#}
{% macro get_incremental_replace_keys_sql(arg_dict) -%}
    {%- set target_relation = arg_dict['target_relation'] -%}
    {%- set temp_relation = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set time_column = config.get('time_slice_column') -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set rebuilt = companion_relation('rebuilt', target_relation) if config.get('replace_rebuilt') else none -%}
    {%- set replaced -%}
        {%- if rebuilt %}
        {{ key }} in ({{ rebuilt_keys(rebuilt) }})
        {%- else %}
        {{ key }} in (select {{ key }} from {{ temp_relation }} where {{ key }} is not null)
        {%- endif %}
        {%- if time_column %}
        or ({{ key }} is null and {{ replaced_slices(time_column, temp_relation, rebuilt, key) }})
        {%- endif %}
    {%- endset -%}
    {{ replace_rows(target_relation, temp_relation, replaced, columns, key, rebuilt) }}
{%- endmacro %}

{#
    A predicate: the row's time slice is one the run replaces, those the run
    rebuilt (record_rebuilt) or else those of the new rows (of those without
    a key, when `key` is given).
#}
{% macro replaced_slices(time_column, temp_relation, rebuilt, key=none) -%}
    {%- set slice = time_slice_or_default(time_column) -%}
    {%- if rebuilt -%}
        {{ slice }} in (select rebuilt_slice from {{ rebuilt }} where rebuilt_slice is not null)
    {%- else -%}
        {{ slice }} in (select {{ slice }} from {{ temp_relation }}{% if key %} where {{ key }} is null{% endif %})
    {%- endif -%}
{%- endmacro %}

{#
    The rows of `target_relation` that `replaced` selects become the rows of
    `temp_relation` (DuckDB). The predicate is evaluated once, into the
    rowids of the replaced rows, which the change log and the delete then
    read.
#}
{% macro replace_rows(target_relation, temp_relation, replaced, columns, key=none, rebuilt=none) -%}
    {%- set replaced_rows = temp_relation.incorporate(path={'identifier': temp_relation.identifier ~ '__replaced'}) -%}
    {%- set is_replaced = 'rowid in (select replaced_row from ' ~ replaced_rows ~ ')' -%}
    create temporary table {{ replaced_rows }} as
    select rowid as replaced_row from {{ target_relation }}
    where {{ replaced }};

    {{ log_users_of_replaced_rows(target_relation, is_replaced, temp_relation) }}
    {{ log_users_of_vanished_rows(target_relation, is_replaced, temp_relation, key) }}
    delete from {{ target_relation }}
    where {{ is_replaced }};

    insert into {{ target_relation }} ({{ columns }})
    select {{ columns }} from {{ temp_relation }};

    drop table {{ replaced_rows }}
    {%- if rebuilt %};
    drop table {{ rebuilt }}
    {%- endif %}
{%- endmacro %}

{#
    For stg_privacy_events (model config `log_users_of_vanished_rows`: the
    columns that say what a row is about besides its key: user_id,
    event_type and event_subtype, which int_consent_events recomputes by):
    the users of stored rows that a run deletes and writes no row for with
    the same key and columns go to the change log. Only a raw
    delivery deleted does that (every other row a run replaces is written
    again, as the winner or as a duplicate), and the per-user models that
    take their users from staged rows of some types would not see it when
    the delivery that stays is of another type or user (user_scope reads
    this log).
#}
{% macro log_users_of_vanished_rows(target_relation, replaced, temp_relation, key) -%}
    {%- set about = config.get('log_users_of_vanished_rows') -%}
    {%- if about and target.type == 'duckdb' -%}
        {%- set vanished -%}
            select stored.user_id
            from {{ target_relation }} as stored
            where
                ({{ replaced }})
                and stored.user_id is not null
                and not exists (
                    select 1 from {{ temp_relation }} as written
                    where
                        written.{{ key }} = stored.{{ key }}
                        {%- for column in about %}
                        and written.{{ column }} is not distinct from stored.{{ column }}
                        {%- endfor %}
                )
        {%- endset -%}
        {{ log_users_recomputed(vanished) }};
    {%- endif -%}
{%- endmacro %}

{#
    For a staging model that per-user models follow through the change log
    (model config `user_column`, DuckDB): the users of the rows a run
    replaces, those it deletes and those it writes, go to
    incremental_user_changes (macros/incremental_by_user.sql). Rows without
    a user concern no one. Nothing without the config.
#}
{% macro log_users_of_replaced_rows(target_relation, replaced, temp_relation) -%}
    {%- set user_column = config.get('user_column') -%}
    {%- if user_column and target.type == 'duckdb' -%}
        {{ log_users_recomputed(
            'select user_id from (select ' ~ user_column ~ ' as user_id from ' ~ target_relation
            ~ ' where ' ~ replaced ~ ' union all select ' ~ user_column ~ ' from ' ~ temp_relation
            ~ ') as replaced where user_id is not null'
        ) }};
    {%- endif -%}
{%- endmacro %}

{#
    Incremental strategy `replace_time_slices`: the new rows are every row of
    the slices (model config `time_slice_column`) the run rebuilt; the
    slices' stored rows are replaced by them. On DuckDB those are the slices
    the model recorded (config `replace_rebuilt`, record_rebuilt), so a
    slice whose raw rows were all deleted is emptied; on Databricks, the
    slices the new rows fall in.
#}
{% macro get_incremental_replace_time_slices_sql(arg_dict) -%}
    {{ return(adapter.dispatch('get_incremental_replace_time_slices_sql', 'customerio_privacy')(arg_dict)) }}
{%- endmacro %}

{% macro default__get_incremental_replace_time_slices_sql(arg_dict) -%}
    {%- set target_relation = arg_dict['target_relation'] -%}
    {%- set temp_relation = arg_dict['temp_relation'] -%}
    {%- set time_column = config.require('time_slice_column') -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set rebuilt = companion_relation('rebuilt', target_relation) if config.get('replace_rebuilt') else none -%}
    {%- set replaced = replaced_slices(time_column, temp_relation, rebuilt) -%}
    {{ replace_rows(target_relation, temp_relation, replaced, columns, rebuilt=rebuilt) }}
{%- endmacro %}

{#
    Databricks (Delta): one atomic INSERT ... REPLACE WHERE over the slices
    present in the new rows, so readers never see a slice missing (a slice
    raw no longer holds was emptied before: empty_time_slices). Not
    runnable in this repository (no workspace): the SQL is Delta's
    documented form, checked by rendering (tests/test_databricks_target.py).
#}
{% macro databricks__get_incremental_replace_time_slices_sql(arg_dict) -%}
    {%- set time_column = config.require('time_slice_column') -%}
    {%- set present -%}
        select distinct {{ time_slice(time_column) }} from {{ arg_dict['temp_relation'].render() }}
    {%- endset -%}
    {{ replace_time_slices_sql(
        arg_dict['target_relation'], arg_dict['temp_relation'], time_column, time_slices_of(run_query(present))
    ) }}
{%- endmacro %}

{# Databricks: the rows of `slices` in `target_relation` become those of `temp_relation`. #}
{% macro replace_time_slices_sql(target_relation, temp_relation, time_column, slices) -%}
    insert into {{ target_relation.render() }}
    replace where {{ time_slice_filter(time_column, slices) }}
    table {{ temp_relation.render() }}
{%- endmacro %}
