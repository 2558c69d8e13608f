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
