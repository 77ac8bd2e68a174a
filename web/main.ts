import { createApi } from "./api";
import { CustomerDetail } from "./customer-detail";
import { CustomerSearch } from "./customer-search";

const api = createApi();
const detail = new CustomerDetail(api);
detail.start();
new CustomerSearch(api, (customerId, opener) => void detail.open(customerId, opener)).start();
