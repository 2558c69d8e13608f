-- scann 0.1: the scann index access method and operator classes for real[].
\echo Use "CREATE EXTENSION scann" to load this file. \quit

CREATE FUNCTION scannhandler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME' LANGUAGE C;
CREATE ACCESS METHOD scann TYPE INDEX HANDLER scannhandler;
COMMENT ON ACCESS METHOD scann IS 'SCANN: IVF partitions + anisotropic 4-bit PQ FastScan';

-- Distances on real[], with pgvector's meanings: L2 distance, negative inner product, cosine
-- distance. Double-precision sums; different lengths, NULL elements and multi-dimensional
-- arrays are errors.
CREATE FUNCTION scann_l2_distance(real[], real[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'scann_real_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scann_negative_inner_product(real[], real[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'scann_real_negative_inner_product'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scann_cosine_distance(real[], real[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'scann_real_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR <-> (LEFTARG = real[], RIGHTARG = real[], PROCEDURE = scann_l2_distance,
                     COMMUTATOR = '<->');
CREATE OPERATOR <#> (LEFTARG = real[], RIGHTARG = real[],
                     PROCEDURE = scann_negative_inner_product, COMMUTATOR = '<#>');
CREATE OPERATOR <=> (LEFTARG = real[], RIGHTARG = real[], PROCEDURE = scann_cosine_distance,
                     COMMUTATOR = '<=>');

-- Support function 1 of each operator class names its metric (scann_metric in scann.h).
CREATE FUNCTION scann_support_l2(internal) RETURNS int4
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scann_support_ip(internal) RETURNS int4
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scann_support_cosine(internal) RETURNS int4
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR CLASS real_l2_ops DEFAULT FOR TYPE real[] USING scann AS
    OPERATOR 1 <-> (real[], real[]) FOR ORDER BY float_ops,
    FUNCTION 1 scann_support_l2(internal);
CREATE OPERATOR CLASS real_ip_ops FOR TYPE real[] USING scann AS
    OPERATOR 1 <#> (real[], real[]) FOR ORDER BY float_ops,
    FUNCTION 1 scann_support_ip(internal);
CREATE OPERATOR CLASS real_cosine_ops FOR TYPE real[] USING scann AS
    OPERATOR 1 <=> (real[], real[]) FOR ORDER BY float_ops,
    FUNCTION 1 scann_support_cosine(internal);

-- pgvector's vector type, when pgvector is installed (before scann): the same three operator
-- classes on its own operators, named as pgvector names them. Without pgvector nothing is
-- created and the extension installs all the same; CREATE EXTENSION vector first, or run
-- SELECT scann_add_vector_opclasses() after installing it.
CREATE FUNCTION scann_add_vector_opclasses() RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
    s text;
BEGIN
    SELECT quote_ident(n.nspname) INTO s FROM pg_extension e
        JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector';
    IF s IS NULL THEN
        RAISE NOTICE 'scann: pgvector is not installed; no operator classes for vector';
        RETURN false;
    END IF;
    IF EXISTS (SELECT FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
               WHERE a.amname = 'scann' AND c.opcname = 'vector_l2_ops') THEN
        RETURN true;
    END IF;
    EXECUTE format('CREATE OPERATOR CLASS vector_l2_ops DEFAULT FOR TYPE %1$s.vector USING scann AS
        OPERATOR 1 %1$s.<-> (%1$s.vector, %1$s.vector) FOR ORDER BY float_ops,
        FUNCTION 1 scann_support_l2(internal)', s);
    EXECUTE format('CREATE OPERATOR CLASS vector_ip_ops FOR TYPE %1$s.vector USING scann AS
        OPERATOR 1 %1$s.<#> (%1$s.vector, %1$s.vector) FOR ORDER BY float_ops,
        FUNCTION 1 scann_support_ip(internal)', s);
    EXECUTE format('CREATE OPERATOR CLASS vector_cosine_ops FOR TYPE %1$s.vector USING scann AS
        OPERATOR 1 %1$s.<=> (%1$s.vector, %1$s.vector) FOR ORDER BY float_ops,
        FUNCTION 1 scann_support_cosine(internal)', s);
    -- Called after CREATE EXTENSION scann: make them members, so DROP EXTENSION drops them.
    -- (Inside the extension's script they are members already and ALTER EXTENSION fails.)
    BEGIN
        EXECUTE 'ALTER EXTENSION scann ADD OPERATOR FAMILY vector_l2_ops USING scann';
        EXECUTE 'ALTER EXTENSION scann ADD OPERATOR CLASS vector_l2_ops USING scann';
        EXECUTE 'ALTER EXTENSION scann ADD OPERATOR FAMILY vector_ip_ops USING scann';
        EXECUTE 'ALTER EXTENSION scann ADD OPERATOR CLASS vector_ip_ops USING scann';
        EXECUTE 'ALTER EXTENSION scann ADD OPERATOR FAMILY vector_cosine_ops USING scann';
        EXECUTE 'ALTER EXTENSION scann ADD OPERATOR CLASS vector_cosine_ops USING scann';
    EXCEPTION WHEN others THEN NULL;
    END;
    RETURN true;
END
$fn$;
DO $$ BEGIN
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'vector') THEN
        PERFORM scann_add_vector_opclasses();
    END IF;
END $$;
