package catalog

import "strings"

// objectsSQL lists every object as (kind, name, definition, printed). $1 is
// the schema left out (the ledger's own); $2, if not empty, the only schema
// read (a tenant's, schema-per-tenant). Names are qualified and quoted with
// %I; definitions come from PostgreSQL's own deparsers (pg_get_indexdef,
// pg_get_constraintdef ...), which print fully qualified names under the
// search_path Read sets. Every object is printed (printed is true).
var objectsSQL = objectsQuery("", "true", "true")

// objectsSinceSQL is objectsSQL printing only the objects of the relations
// in $3 (their oids: the relations whose stamp moved), of the relations
// whose objects name one of them (pg_depend), and — if an object of no
// relation names one of them (a function taking a table's row type) — the
// objects of no relation. Every other object comes with its kind and name
// alone (an empty def, printed false): ReadSince takes its definition from the
// last snapshot.
var objectsSinceSQL = objectsQuery(ownersSQL+`, changed AS (
    SELECT DISTINCT unnest($3::oid[]) AS owner
), printed AS (
    SELECT owner FROM changed
    UNION
    SELECT coalesce(o.owner, 0) FROM pg_depend d
    JOIN owned r ON r.classid = d.refclassid AND r.objid = d.refobjid AND r.owner IN (SELECT owner FROM changed)
    LEFT JOIN owned o ON o.classid = d.classid AND o.objid = d.objid
), `, "c.oid IN (SELECT owner FROM printed)", "EXISTS (SELECT 1 FROM printed WHERE owner = 0)")

// objectsQuery fills the template: with (a CTE prefix ending in ", "),
// printed (whether a relation c's objects are printed) and rest (whether
// the objects of no relation are).
func objectsQuery(with, printed, rest string) string {
	return strings.NewReplacer("{WITH}", with, "{PRINTED}", printed, "{REST}", rest).Replace(objectsTemplate)
}

// ownersSQL names the relation each catalog row an object is printed from
// belongs to (its owner: 0 for the rows of no relation): a relation's own
// rows, its indexes' (an index belongs to its table), its row type and that
// type's array; a composite type's pg_class row belongs to no relation.
// owned maps the objects pg_depend can name (classid, objid) to an owner.
const ownersSQL = `cls AS (
    SELECT c.oid, CASE WHEN c.relkind IN ('i', 'I') THEN i.indrelid WHEN c.relkind = 'c' THEN 0 ELSE c.oid END AS owner
    FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
), typ AS (
    SELECT t.oid, cls.owner FROM pg_catalog.pg_type t JOIN cls ON cls.oid = t.typrelid
    UNION ALL
    SELECT a.oid, cls.owner FROM pg_catalog.pg_type a JOIN pg_catalog.pg_type t ON t.oid = a.typelem AND t.typrelid <> 0
    JOIN cls ON cls.oid = t.typrelid
), owned AS (
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid AS classid, oid AS objid, owner FROM cls
    UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass::oid, oid, owner FROM typ
    UNION ALL SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass::oid, k.oid, cls.owner
    FROM pg_catalog.pg_constraint k JOIN cls ON cls.oid = k.conrelid
    UNION ALL SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass::oid, g.oid, cls.owner
    FROM pg_catalog.pg_trigger g JOIN cls ON cls.oid = g.tgrelid
    UNION ALL SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass::oid, p.oid, cls.owner
    FROM pg_catalog.pg_policy p JOIN cls ON cls.oid = p.polrelid
    UNION ALL SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass::oid, w.oid, cls.owner
    FROM pg_catalog.pg_rewrite w JOIN cls ON cls.oid = w.ev_class
    UNION ALL SELECT 'pg_catalog.pg_attrdef'::pg_catalog.regclass::oid, d.oid, cls.owner
    FROM pg_catalog.pg_attrdef d JOIN cls ON cls.oid = d.adrelid
)`

const objectsTemplate = `
WITH {WITH}ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname <> $1 AND ($2::text = '' OR nspname = $2::text) AND nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND nspname NOT LIKE 'pg\_temp\_%' AND nspname NOT LIKE 'pg\_toast\_temp\_%'
), member AS (
    SELECT classid, objid FROM pg_depend WHERE deptype = 'e'
), rel AS (
    SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.relispartition, c.relpartbound,
           c.relrowsecurity, c.relforcerowsecurity, ns.nspname, format('%I.%I', ns.nspname, c.relname) AS qname,
           {PRINTED} AS pr
    FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
      AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_class'::regclass AND m.objid = c.oid)
), rest AS (
    SELECT {REST} AS pr
)
SELECT 'schema', format('%I', ns.nspname), '', rest.pr
FROM ns, rest
WHERE NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_namespace'::regclass AND m.objid = ns.oid)
UNION ALL
SELECT 'extension', format('%I', e.extname), CASE WHEN rest.pr THEN format('%s schema %I', e.extversion, n.nspname) ELSE '' END, rest.pr
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace, rest
WHERE n.nspname <> $1 AND ($2::text = '' OR n.nspname = $2::text)
UNION ALL
SELECT 'table', r.qname, CASE WHEN r.pr THEN concat_ws(' ',
        CASE r.relkind WHEN 'p' THEN 'partitioned by ' || pg_get_partkeydef(r.oid) WHEN 'f' THEN 'foreign' END,
        CASE WHEN r.relispartition THEN 'partition of ' ||
            (SELECT format('%I.%I', pn.nspname, p.relname) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
             JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE i.inhrelid = r.oid)
            || ' ' || pg_get_expr(r.relpartbound, r.oid) END,
        CASE WHEN r.relpersistence = 'u' THEN 'unlogged' END,
        CASE WHEN r.relrowsecurity THEN 'row security' END,
        CASE WHEN r.relforcerowsecurity THEN 'forced' END) ELSE '' END, r.pr
FROM rel r WHERE r.relkind IN ('r', 'p', 'f')
UNION ALL
SELECT CASE r.relkind WHEN 'v' THEN 'view' ELSE 'materialized-view' END, r.qname,
       CASE WHEN r.pr THEN btrim(regexp_replace(pg_get_viewdef(r.oid), '\s+', ' ', 'g')) ELSE '' END, r.pr
FROM rel r WHERE r.relkind IN ('v', 'm')
UNION ALL
SELECT 'sequence', r.qname,
       CASE WHEN r.pr THEN format('%s start %s increment %s min %s max %s cache %s%s', format_type(s.seqtypid, NULL), s.seqstart,
              s.seqincrement, s.seqmin, s.seqmax, s.seqcache, CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END) ELSE '' END, r.pr
FROM rel r JOIN pg_sequence s ON s.seqrelid = r.oid
UNION ALL
SELECT 'column', format('%s.%I', r.qname, a.attname), CASE WHEN r.pr THEN concat_ws(' ',
        format_type(a.atttypid, a.atttypmod),
        CASE WHEN a.attcollation <> t.typcollation THEN 'collate ' || (SELECT format('%I.%I', cn.nspname, co.collname)
            FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation) END,
        CASE WHEN a.attnotnull THEN 'not null' ELSE 'null' END,
        CASE WHEN a.attgenerated = 's' THEN 'generated always as (' || pg_get_expr(d.adbin, d.adrelid) || ') stored'
             WHEN d.adbin IS NOT NULL THEN 'default ' || pg_get_expr(d.adbin, d.adrelid) END,
        CASE a.attidentity WHEN 'a' THEN 'generated always as identity' WHEN 'd' THEN 'generated by default as identity' END) ELSE '' END, r.pr
FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE r.relkind IN ('r', 'p', 'f') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'index', format('%I.%I', r.nspname, ic.relname), CASE WHEN r.pr THEN concat_ws(' ',
        pg_get_indexdef(i.indexrelid),
        CASE WHEN NOT i.indisvalid THEN 'invalid' END,
        CASE WHEN NOT i.indisready THEN 'not ready' END) ELSE '' END, r.pr
FROM pg_index i JOIN rel r ON r.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
UNION ALL
SELECT 'constraint', format('%s.%I', r.qname, k.conname), CASE WHEN r.pr THEN pg_get_constraintdef(k.oid) ELSE '' END, r.pr
FROM pg_constraint k JOIN rel r ON r.oid = k.conrelid
UNION ALL
SELECT 'constraint', format('%I.%I.%I', ns.nspname, t.typname, k.conname), CASE WHEN rest.pr THEN pg_get_constraintdef(k.oid) ELSE '' END, rest.pr
FROM pg_constraint k JOIN pg_type t ON t.oid = k.contypid JOIN ns ON ns.oid = t.typnamespace, rest
WHERE NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_type'::regclass AND m.objid = t.oid)
UNION ALL
SELECT 'trigger', format('%s.%I', r.qname, g.tgname), CASE WHEN r.pr THEN concat_ws(' ', pg_get_triggerdef(g.oid),
        CASE g.tgenabled WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'enabled replica' WHEN 'A' THEN 'enabled always' END) ELSE '' END, r.pr
FROM pg_trigger g JOIN rel r ON r.oid = g.tgrelid
WHERE NOT g.tgisinternal
UNION ALL
SELECT 'policy', format('%s.%I', r.qname, p.polname), CASE WHEN r.pr THEN concat_ws(' ',
        CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
        'for ' || CASE p.polcmd WHEN 'r' THEN 'select' WHEN 'a' THEN 'insert' WHEN 'w' THEN 'update' WHEN 'd' THEN 'delete' ELSE 'all' END,
        'to ' || (SELECT string_agg(CASE WHEN ro = 0 THEN 'public' ELSE format('%I', pg_get_userbyid(ro)) END, ', ' ORDER BY 1)
                  FROM unnest(p.polroles) ro),
        'using (' || pg_get_expr(p.polqual, p.polrelid) || ')',
        'with check (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')') ELSE '' END, r.pr
FROM pg_policy p JOIN rel r ON r.oid = p.polrelid
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
       format('%I.%I(%s)', ns.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       CASE WHEN rest.pr THEN concat_ws(' ',
        'returns ' || pg_get_function_result(p.oid),
        'language ' || format('%I', l.lanname),
        CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' END,
        CASE WHEN p.prokind = 'w' THEN 'window' END,
        CASE WHEN p.prosecdef THEN 'security definer' END,
        CASE WHEN p.proisstrict THEN 'strict' END,
        CASE WHEN p.proconfig IS NOT NULL THEN 'set ' || array_to_string(p.proconfig, ', ') END,
        'body ' || left(md5(coalesce(pg_get_function_sqlbody(p.oid), p.prosrc, '') || coalesce(p.probin, '')), 16)) ELSE '' END, rest.pr
FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang, rest
WHERE NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_proc'::regclass AND m.objid = p.oid)
UNION ALL
SELECT 'type', format('%I.%I', ns.nspname, t.typname),
       CASE WHEN NOT rest.pr THEN '' ELSE
       CASE t.typtype
       WHEN 'e' THEN 'enum (' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                                  FROM pg_enum e WHERE e.enumtypid = t.oid) || ')'
       WHEN 'd' THEN concat_ws(' ', 'domain ' || format_type(t.typbasetype, t.typtypmod),
                               CASE WHEN t.typnotnull THEN 'not null' END, 'default ' || t.typdefault)
       WHEN 'r' THEN 'range of ' || (SELECT format_type(rg.rngsubtype, NULL) FROM pg_range rg WHERE rg.rngtypid = t.oid)
       ELSE 'composite (' || (SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
                              FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) || ')'
       END END, rest.pr
FROM pg_type t JOIN ns ON ns.oid = t.typnamespace, rest
WHERE (t.typtype IN ('e', 'd', 'r')
       OR t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
  AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_type'::regclass AND m.objid = t.oid)`
