{#
    Incremental models of per-user state (DuckDB).

    A model of per-user state (consent, suppression) is a function of each
    user's own events (and of the requests they own, R9), so an incremental
    run recomputes the users whose result may differ from
    the last run and replaces their rows that differ; every other user's
    rows are left as they are. Inside what is recomputed nothing differs from a full
    refresh. A user is recomputed when

    1. any of their staged privacy rows was (re)written since the model was
       last built (stg_privacy_events.staged_at: new deliveries, rows judged
       again by R2), or
    2. an accepted event of theirs became visible because as_of moved on
       (event_timestamp between the last as_of and this one), or
    3. the model says so (`judged_again`: queries of user_ids, e.g. its own
       stored rows whose as_of-dependent result may have changed, or the
       owners of requests with a new event), or
    4. the rows of a per-user model it reads changed since
       (`changed_upstream`: every run of a per-user model writes the users
       whose rows it changed to `incremental_user_changes`, or a row
       without a user when it rebuilt everyone), or
    5. one of its small inputs changed for them (`input_digests`: a query of
       one row per user and input, e.g. its row count and the sum of its
       rows' hashes; the model keeps the digests it was built from in
       `<model>__inputs` and recomputes the users in the symmetric
       difference).

    Parts 1 and 2 read staging, so they concern the models that read
    privacy events themselves; `staged_event_types` names the event types a
    model reads (none: every type, as for the universe of users in
    suppression_state; an empty list: none, for a model that reads only
    other per-user models and small inputs). Such a model also follows
    stg_privacy_events in the change log, which names the users of staged
    rows that vanished (a raw delivery deleted: the delivery that stays may
    be of another type or user), and every user after a full refresh of
    staging.

    A model whose rows depend only on the events of one (user, type) pair
    (int_consent_events: one consent type's story) sets the model config
    `user_scope_type_column` to its column holding the staged event_subtype:
    its scope is then kept per pair, its `judged_again` queries return
    (user_id, type), a user named only as a user (the change log) counts for
    every subtype of its staged event types, and replace_users compares the
    stored rows of those pairs only. A user with one new consent event
    recomputes one of their seven stories instead of all of them.

    Every row has a user (each per-user model tests user_id not null).
    Every user is recomputed when the model has no watermark yet, when as_of
    is earlier than the one it was last built at (a replay), when the
    fingerprint changed
    (incremental_lineage below), when a model in `changed_upstream`
    recomputed everyone since, or when the input digests are missing.

    The watermark of every table model (incremental_watermarks in the target
    schema: what it was built from) is written by a post-hook in the model's
    transaction, on a full refresh too. The users to recompute are written
    to `<model>__user_scope` before the model's query runs (in run, build
    and retry only); strategy `replace_users` writes the difference between
    their stored and new rows (below) and drops it.

    Spark (parquet: no delete) and Databricks build these models as tables:
    see DECISIONS.md.
#}

{% macro incremental_by_user_config() -%}
    {%- if target.type == 'duckdb' -%}
        {%- do return({
            'materialized': 'incremental',
            'incremental_strategy': 'replace_users',
            'unique_key': 'user_id',
            'on_schema_change': 'fail',
        }) -%}
    {%- else -%}
        {%- do return({'materialized': 'table'}) -%}
    {%- endif -%}
{%- endmacro %}

{# When the row was (re)written to staging: the start of that dbt invocation. #}
{% macro run_started_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{#
    A model of this project found in the graph rather than by ref(), for the
    scope queries: every model that uses user_scope() is downstream of the
    models they read, so the order of the build is the same, and unit tests
    need no fixture for them.
#}
{% macro upstream_relation(name) -%}
    {%- if not execute or 'nodes' not in graph -%}
        {#- parsing, or a unit test (no graph): the name is never run -#}
        {{ return(name) }}
    {%- endif -%}
    {%- set node = graph.nodes['model.' ~ project_name ~ '.' ~ name] -%}
    {{ return(api.Relation.create(
        database=node.database, schema=node.schema, identifier=node.alias
    )) }}
{%- endmacro %}

{# One table for the whole project, in the target's own schema. #}
{% macro incremental_watermarks_relation() -%}
    {{ return(api.Relation.create(
        database=target.database, schema=target.schema, identifier='incremental_watermarks'
    )) }}
{%- endmacro %}

{#
    on-run-start: the watermark table exists before any model runs, so that
    models built at once never race to create it.
#}
{% macro create_incremental_watermarks() -%}
    {%- if target.type == 'duckdb' -%}
        {%- set watermarks = incremental_watermarks_relation() -%}
        create schema if not exists {{ watermarks.include(identifier=false) }};
        create table if not exists {{ watermarks }} (
            model_name varchar, as_of timestamp, staged_through timestamp, fingerprint varchar
        );
        alter table {{ watermarks }} add column if not exists own_as_of timestamp;
        {#- models no longer built as tables keep no watermark -#}
        delete from {{ watermarks }}
        where model_name not in ('{{ built_models() | join("', '") }}');
        create table if not exists {{ user_changes_relation() }} (
            model_name varchar, user_id varchar, changed_at timestamp
        );
        {#- what every model has read already: at or before the oldest watermark -#}
        delete from {{ user_changes_relation() }}
        where changed_at <= (select min(staged_through) from {{ watermarks }})
    {%- endif -%}
{%- endmacro %}

{# The tables (and incremental models) of the project, by their names in the warehouse. #}
{% macro built_models() -%}
    {%- set names = [] -%}
    {%- if execute and 'nodes' in graph -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' and node.config.materialized in ['table', 'incremental'] -%}
                {%- do names.append(node.alias) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(names) }}
{%- endmacro %}

{# The users each per-user model recomputed, by run (DuckDB), beside the watermarks. #}
{% macro user_changes_relation() -%}
    {{ return(incremental_watermarks_relation().incorporate(path={'identifier': 'incremental_user_changes'})) }}
{%- endmacro %}

{#
    A table beside the model, `<model>__<suffix>`: its user scope
    (`user_scope`), the input digests it was built from (`inputs`) and
    those of the build under way (`inputs_next`).
#}
{% macro companion_relation(suffix, relation=this) -%}
    {{ return(api.Relation.create(
        database=relation.database, schema=relation.schema, identifier=relation.identifier ~ '__' ~ suffix
    )) }}
{%- endmacro %}

{% macro user_scope_relation(relation=this) -%}
    {{ return(companion_relation('user_scope', relation)) }}
{%- endmacro %}

{#
    What a model was computed from, worked out when it is built (DuckDB):

    - fingerprint: one md5 of the model's code, the code of the views above
      it (read at query time), the code of every macro of the project, the
      contents of the seeds above it, the vars the rules read, and the
      fingerprints recorded by the tables it reads when they were last
      built. A deploy that changes a model's rule or any macro, a seed
      loaded with new rows, or a table upstream rebuilt from new code all
      change it;
    - as_of and staged_through: the earliest of this run's and those the
      tables it reads were built at. A model built from a table that was not
      rebuilt since new events were staged (a partial selection) records the
      older time, so its next run recomputes those users again;
    - own_as_of: this run's as_of, which its stored rows were judged at, so
      that any earlier as_of is a replay.

    `complete` is false when a table it reads has no watermark yet.
#}
{% macro incremental_lineage() -%}
    {%- set parts = ['self=' ~ model.checksum.checksum] -%}
    {%- for name in ['raw_schema', 'soft_bounce_threshold', 'future_tolerance_hours'] -%}
        {%- do parts.append('var.' ~ name ~ '=' ~ var(name, '') | string) -%}
    {%- endfor -%}
    {%- set built = [] -%}
    {%- set state = namespace(queue=model.depends_on.nodes | list, seen=[]) -%}
    {%- for _ in range(1000) if state.queue -%}
        {%- set node_id = state.queue[0] -%}
        {%- set state.queue = state.queue[1:] -%}
        {%- if node_id not in state.seen and node_id in graph.nodes -%}
            {%- set state.seen = state.seen + [node_id] -%}
            {%- set node = graph.nodes[node_id] -%}
            {%- if node.resource_type == 'seed' -%}
                {%- set relation = api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias) -%}
                {%- set contents -%}
                    select md5(coalesce(string_agg(cast(seed_row as varchar), '|' order by cast(seed_row as varchar)), ''))
                    from {{ relation }} as seed_row
                {%- endset -%}
                {%- do parts.append(node_id ~ '=' ~ run_query(contents).rows[0][0]) -%}
            {%- elif node.resource_type == 'model' and node.config.materialized in ['table', 'incremental'] -%}
                {%- do built.append(node.alias) -%}
            {%- elif node.resource_type == 'model' -%}
                {%- do parts.append(node_id ~ '=' ~ node.checksum.checksum) -%}
                {%- set state.queue = state.queue + node.depends_on.nodes | list -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {#- the code of every macro of this project: a rule may live in any of
        them, and the list of macros a model calls is no help (it grows with
        the branch a run takes: an incremental run calls more than a full
        refresh, which would make their fingerprints differ) -#}
    {%- set macro_code = [] -%}
    {%- for name in customerio_privacy | sort -%}
        {%- do macro_code.append(name ~ '=' ~ customerio_privacy.get(name).macro.macro_sql) -%}
    {%- endfor -%}
    {%- do parts.append('macros=' ~ local_md5(macro_code | join('\n'))) -%}
    {%- set query -%}
        select
            {{ timestamp_text('least(' ~ as_of() ~ ', min(as_of))') }},
            {{ timestamp_text('least(' ~ run_started_timestamp() ~ ', min(staged_through))') }},
            coalesce(string_agg(model_name || '=' || fingerprint, '|' order by model_name), ''),
            count(*)
        from {{ incremental_watermarks_relation() }}
        where model_name in ('{{ built | join("', '") }}')
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- do parts.append('built=' ~ row[2]) -%}
    {{ return({
        'as_of': row[0],
        'staged_through': row[1],
        'fingerprint': local_md5(parts | sort | join('\n')),
        'complete': row[3] == built | unique | list | length,
    }) }}
{%- endmacro %}

{#
    Post-hook of every table and incremental model on DuckDB (dbt_project.yml):
    what the model was just built from, for the per-user models downstream
    and for its own next run. Nothing elsewhere.
#}
{% macro record_incremental_watermark() -%}
    {%- if execute and target.type == 'duckdb' and model.config.materialized in ['table', 'incremental'] -%}
        {%- set lineage = incremental_lineage() -%}
        {%- set watermarks = incremental_watermarks_relation() -%}
        delete from {{ watermarks }} where model_name = '{{ this.identifier }}';
        insert into {{ watermarks }} (model_name, as_of, staged_through, fingerprint, own_as_of)
        values (
            '{{ this.identifier }}',
            cast('{{ lineage.as_of }}' as timestamp),
            cast('{{ lineage.staged_through }}' as timestamp),
            '{{ lineage.fingerprint }}',
            {{ as_of() }}
        )
    {%- endif -%}
{%- endmacro %}

{#
    The watermark the model being built recorded at its last build (DuckDB),
    as texts: as_of and staged_through (what it was built from),
    fingerprint, own_as_of (the as_of its rows were judged at; none in a
    watermark older than that column) and is_replay (this run's as_of is
    earlier than the one its rows were judged at). None without one: the
    first build, or another engine (watermarks are DuckDB's).
#}
{% macro own_watermark() -%}
    {%- if not execute or target.type != 'duckdb' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set watermarks = incremental_watermarks_relation() -%}
    {%- if not adapter.get_relation(database=watermarks.database, schema=watermarks.schema, identifier=watermarks.identifier) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found -%}
        select
            {{ timestamp_text('as_of') }},
            {{ timestamp_text('staged_through') }},
            fingerprint,
            {{ timestamp_text('own_as_of') }},
            not coalesce(coalesce(own_as_of, as_of) <= {{ as_of() }}, false)
        from {{ watermarks }}
        where model_name = '{{ this.identifier }}'
    {%- endset -%}
    {%- set rows = run_query(found).rows -%}
    {%- if rows | length != 1 -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return({
        'as_of': rows[0][0],
        'staged_through': rows[0][1],
        'fingerprint': rows[0][2],
        'own_as_of': rows[0][3],
        'is_replay': rows[0][4],
    }) }}
{%- endmacro %}

{#
    In an incremental run: works out the users to recompute (see the top of
    this file), writes them to the scope table and returns it; outside one,
    none. `judged_again` queries may use the tokens __previous_as_of__ (the
    as_of the stored rows were computed at) and __staged_through__ (the run
    start they saw staging at). A build as a table is written to the change
    log here, before the model runs (a failed build then only costs its
    readers a wider next run); an incremental build, of some users or of
    all, is written by replace_users, in the model's transaction.
#}
{% macro user_scope(judged_again=[], changed_upstream=[], input_digests=none, staged_event_types=none) -%}
    {%- set type_column = config.get('user_scope_type_column') -%}
    {%- if not builds_on_duckdb() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if input_digests is not none -%}
        {%- do run_query(
            'create or replace table ' ~ companion_relation('inputs_next') ~ ' as ' ~ input_digests
        ) -%}
    {%- endif -%}
    {%- if not is_incremental() -%}
        {%- do log_every_user_when_rebuilt() -%}
        {{ return(none) }}
    {%- endif -%}
    {#- a model that reads staged rows also takes the users whose staged rows
        vanished (a raw delivery deleted), whatever their type -#}
    {%- if staged_event_types is none or staged_event_types -%}
        {%- set changed_upstream = changed_upstream + ['stg_privacy_events'] -%}
    {%- endif -%}
    {%- set scope = user_scope_relation() -%}
    {%- set mark = own_watermark() -%}
    {%- set staged = upstream_relation('stg_privacy_events') -%}
    {%- set lineage = incremental_lineage() -%}
    {%- set every_user = (
        mark is none or mark.is_replay or not lineage.complete or mark.fingerprint != lineage.fingerprint
    ) -%}
    {%- if not every_user and changed_upstream -%}
        {%- set upstream_changes -%}
            select user_id from {{ user_changes_relation() }}
            where
                model_name in ('{{ changed_upstream | join("', '") }}')
                and changed_at > cast('{{ mark.staged_through }}' as timestamp)
        {%- endset -%}
        {%- set every_user = run_query(
            'select count(*) from (' ~ upstream_changes ~ ') as changes where user_id is null'
        ).rows[0][0] > 0 -%}
    {%- endif -%}
    {%- if not every_user and input_digests is not none -%}
        {%- set kept = companion_relation('inputs') -%}
        {%- set every_user = not adapter.get_relation(
            database=kept.database, schema=kept.schema, identifier=kept.identifier
        ) -%}
    {%- endif -%}

    {%- set query -%}
        create or replace table {{ scope }} as
        {% if every_user -%}
            select cast(null as varchar) as user_id,
            {%- if type_column %} cast(null as varchar) as {{ type_column }},{% endif %} true as every_user
        {%- else -%}
            {#- per (user, type) when the model says so: the staged event's
                subtype, the type its judged_again queries return, and every
                type of its staged event types for a user named only as a
                user (the change log, input digests) -#}
            {%- set every_type = [] -%}
            {%- for event_type in (staged_event_types or []) if type_column -%}
                {%- do every_type.extend(privacy_vocabulary()[event_type].subtypes) -%}
            {%- endfor -%}
            {%- set staged_type = 'event_subtype' if type_column else 'cast(null as varchar)' -%}
            {%- set any_type = (
                "cross join (values ('" ~ every_type | join("'), ('") ~ "')) as types (type_value)"
                if type_column else ''
            ) -%}
            {%- set user_type = 'types.type_value' if type_column else 'cast(null as varchar)' -%}
            {%- set previous_as_of = "cast('" ~ mark.as_of ~ "' as timestamp)" -%}
            {%- set of_types = (
                '' if staged_event_types is none
                else "and event_type in ('" ~ staged_event_types | join("', '") ~ "')"
            ) %}
            select distinct user_id, {% if type_column %}type_value as {{ type_column }}, {% endif %}false as every_user
            from (
                select cast(null as varchar) as user_id, cast(null as varchar) as type_value
                {% if staged_event_types is none or staged_event_types -%}
                union all
                select user_id, {{ staged_type }} from {{ staged }}
                where staged_at > cast('{{ mark.staged_through }}' as timestamp) {{ of_types }}
                union all
                select user_id, {{ staged_type }} from {{ staged }}
                where
                    disposition = 'accepted'
                    and event_timestamp > {{ previous_as_of }}
                    and event_timestamp <= {{ as_of() }}
                    {{ of_types }}
                {%- endif %}
                {% for judged in judged_again %}
                    union all
                    select {{ '*' if type_column else 'user_id, cast(null as varchar)' }} from (
                        {{ judged
                            | replace('__previous_as_of__', previous_as_of)
                            | replace('__staged_through__', "cast('" ~ mark.staged_through ~ "' as timestamp)") }}
                    ) as judged_again_{{ loop.index }}
                {% endfor %}
                {% if changed_upstream %}
                    union all
                    select changes.user_id, {{ user_type }}
                    from ({{ upstream_changes }}) as changes {{ any_type }}
                {% endif %}
                {% if input_digests is not none %}
                    {%- set next = companion_relation('inputs_next') %}
                    union all
                    select changed_inputs.user_id, {{ user_type }} from (
                        (select * from {{ next }} except select * from {{ kept }})
                        union all
                        (select * from {{ kept }} except select * from {{ next }})
                    ) as changed_inputs {{ any_type }}
                {% endif %}
            ) as changed
            where user_id is not null{% if type_column %} and type_value is not null{% endif %}
        {%- endif %}
    {%- endset -%}
    {%- do run_query(query) -%}
    {{ log(this ~ ': recomputing ' ~ ('every user' if every_user else 'the users in ' ~ scope), info=false) }}
    {{ return({'relation': scope, 'every_user': every_user, 'type_column': type_column}) }}
{%- endmacro %}

{#
    True while a model is built (run, build or retry), when macros may write
    before the model's query runs. Compile, show, docs and unit tests write
    nothing.
#}
{% macro writes_model() -%}
    {{ return(execute and flags.WHICH in ['run', 'build', 'retry'] and model.resource_type == 'model') }}
{%- endmacro %}

{#
    True while a model is built on DuckDB, when the macros above may write
    their tables (the scope, the change log, what a staging run rebuilds)
    before the model's query runs. Elsewhere they write nothing, and the
    SQL reads everyone.
#}
{% macro builds_on_duckdb() -%}
    {{ return(writes_model() and target.type == 'duckdb') }}
{%- endmacro %}

{#
    A model followed through the change log, built as a table (the first
    build, a full refresh): a change for every user, written when the model
    is compiled in run, build or retry.
#}
{% macro log_every_user_when_rebuilt() -%}
    {%- if builds_on_duckdb() and not is_incremental() -%}
        {%- do run_query(log_users_recomputed('select cast(null as varchar) as user_id')) -%}
    {%- endif -%}
{%- endmacro %}

{# The users in `users_query` (null: every user) were recomputed by this run of the model. #}
{% macro log_users_recomputed(users_query) -%}
    insert into {{ user_changes_relation() }}
    select distinct '{{ this.identifier }}', user_id, {{ run_started_timestamp() }}
    from ({{ users_query }}) as recomputed
{%- endmacro %}

{#
    Post-hook of a model built with input_digests: the digests of this
    build become those the next run compares with. Nothing elsewhere.
#}
{% macro keep_input_digests() -%}
    {%- if execute and target.type == 'duckdb' -%}
        {%- set kept = companion_relation('inputs') -%}
        drop table if exists {{ kept }};
        alter table {{ companion_relation('inputs_next') }} rename to {{ kept.identifier }}
    {%- endif -%}
{%- endmacro %}

{#
    A predicate: the user column names a user in the scope. Always true
    outside an incremental run and when every user is recomputed. A plain
    IN, so that DuckDB filters before a view's projection (with an OR it
    read the consent proof of every event before filtering).
#}
{% macro in_user_scope(column, scope, type_expression=none) -%}
    {%- if scope is none or scope.every_user -%}
        (1 = 1)
    {%- elif scope.type_column -%}
        (({{ column }}, {{ type_expression }}) in (select user_id, {{ scope.type_column }} from {{ scope.relation }}))
    {%- else -%}
        ({{ column }} in (select user_id from {{ scope.relation }}))
    {%- endif -%}
{%- endmacro %}

{#
    Incremental strategy `replace_users` (DuckDB): the stored rows of the
    users in the scope become the new rows (which hold only those users).
    Only the difference is written: a stored row with no equal new row is
    deleted, a new row with no equal stored row is inserted, and only the
    users of those rows go to the change log, so that the per-user models
    reading this one recompute the users whose rows changed rather than
    every user this run looked at. Most recomputed rows come out as they
    were (at 1M users, 1.1M consent events are recomputed and 0.15M
    differ), and rewriting them cost more than comparing them: the insert,
    and the checkpoint's vacuum of row groups with a tenth of their rows
    deleted.

    Rows are compared within a user by a 64-bit hash of all their columns:
    a stored row and a new row of one user that differ but hash alike would
    keep the stored one. With up to a hundred rows per user, that is about
    5e-16 per user and run. The rows of every per-user model are distinct
    (a key tested unique, here or on the view over it, or one by
    construction: int_consent_events' event_id), so the set difference is
    the multiset one.
#}
{% macro get_incremental_replace_users_sql(arg_dict) -%}
    {%- set target_relation = arg_dict['target_relation'] -%}
    {%- set temp_relation = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set scope = user_scope_relation(target_relation) -%}
    {%- set every_user = run_query('select coalesce(bool_or(every_user), false) from ' ~ scope).rows[0][0] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {% if every_user -%}
        delete from {{ target_relation }};

        insert into {{ target_relation }} ({{ columns }})
        select {{ columns }} from {{ temp_relation }};

        {{ log_users_recomputed('select cast(null as varchar) as user_id') }};
    {%- else -%}
        {%- set stored = temp_relation.incorporate(path={'identifier': temp_relation.identifier ~ '__stored'}) -%}
        {%- set incoming = temp_relation.incorporate(path={'identifier': temp_relation.identifier ~ '__incoming'}) -%}
        {%- set changed = temp_relation.incorporate(path={'identifier': temp_relation.identifier ~ '__changed'}) -%}
        {%- set type_column = config.get('user_scope_type_column') %}
        {#- the rows in scope are found by their keys first, then only they
            are read whole (each is fetched by rowid) -#}
        create temporary table {{ stored }} as
        select rowid as stored_row, {{ key }} as user_id, hash({{ columns }}) as row_hash
        from {{ target_relation }}
        where rowid in (
            select rowid from {{ target_relation }}
            {% if type_column -%}
            where ({{ key }}, {{ type_column }}) in (select user_id, {{ type_column }} from {{ scope }})
            {%- else -%}
            where {{ key }} in (select user_id from {{ scope }})
            {%- endif %}
        );

        create temporary table {{ incoming }} as
        select rowid as incoming_row, {{ key }} as user_id, hash({{ columns }}) as row_hash
        from {{ temp_relation }};

        create temporary table {{ changed }} as
        select stored_row, null as incoming_row, user_id
        from {{ stored }}
        where not exists (
            select 1 from {{ incoming }}
            where {{ incoming }}.user_id = {{ stored }}.user_id and {{ incoming }}.row_hash = {{ stored }}.row_hash
        )
        union all
        select null as stored_row, incoming_row, user_id
        from {{ incoming }}
        where not exists (
            select 1 from {{ stored }}
            where {{ stored }}.user_id = {{ incoming }}.user_id and {{ stored }}.row_hash = {{ incoming }}.row_hash
        );

        delete from {{ target_relation }}
        where rowid in (select stored_row from {{ changed }} where stored_row is not null);

        insert into {{ target_relation }} ({{ columns }})
        select {{ columns }} from {{ temp_relation }}
        where rowid in (select incoming_row from {{ changed }} where incoming_row is not null);

        {{ log_users_recomputed('select user_id from ' ~ changed) }};

        drop table {{ stored }};
        drop table {{ incoming }};
        drop table {{ changed }};
    {%- endif %}

    drop table if exists {{ scope }}
{%- endmacro %}

{#
    A judged_again query: the users who own, or owned when the model's rows
    were stored, a data subject request with an event staged or reached
    since the last run. R9 gives a request the user of its earliest event,
    so a later event of the request may carry another user_id and still
    change the owner's erasure and objection signals.
#}
{% macro users_of_requests_changed_since_last_run() -%}
    {%- set staged = upstream_relation('stg_privacy_events') -%}
    with changed_requests as (
        select request_id from {{ staged }}
        where
            event_type = 'gdpr_request'
            and (
                staged_at > __staged_through__
                or (event_timestamp > __previous_as_of__ and event_timestamp <= {{ as_of() }})
            )
    )
    select user_id from {{ upstream_relation('int_dsr_requests') }}
    where request_id in (select request_id from changed_requests)
    union all
    select user_id from {{ this }}
    where request_id in (select request_id from changed_requests)
{%- endmacro %}
