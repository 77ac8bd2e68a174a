/**
 * The attribute names our spans carry. The RPC ones are those the issue and
 * most backends (Jaeger, Tempo's service graph) read: semantic conventions
 * 1.2x-1.37, before 1.38 renamed them (rpc.system.name, a fully qualified
 * rpc.method, rpc.status_code). Incubating names are copied here, as the
 * semantic-conventions package advises, rather than imported from its
 * unstable entry point.
 */
export const RPC_SYSTEM = "rpc.system";
export const RPC_SERVICE = "rpc.service";
export const RPC_METHOD = "rpc.method";
export const RPC_GRPC_STATUS_CODE = "rpc.grpc.status_code";
export const RPC_CONNECT_RPC_ERROR_CODE = "rpc.connect_rpc.error_code";
/** How a Connect-door call was spoken (connect, grpc-web, grpc): ours, the conventions have none. */
export const RPC_PROTOCOL = "chinook.rpc.protocol";
/** Messages a server-streaming call sent: ours, cheaper than one semconv message event each. */
export const RPC_MESSAGES_SENT = "chinook.rpc.messages_sent";

export const DB_SYSTEM = "db.system";
export const DB_SYSTEM_NAME = "db.system.name";
export const DB_QUERY_TEXT = "db.query.text";
export const DB_OPERATION_NAME = "db.operation.name";
export const ERROR_TYPE = "error.type";
