
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


/*
 * The request body as one contiguous string, also when nginx kept part
 * of it in a temporary file.  NGX_DECLINED when it is larger than "max".
 */

ngx_str_t  ngx_http_twanon_xml_type = ngx_string("text/xml; charset=utf-8");


ngx_int_t
ngx_http_twanon_read_body(ngx_http_request_t *r, size_t max,
    ngx_str_t *body)
{
    u_char       *p;
    size_t        len, size;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    body->len = 0;
    body->data = NULL;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len > max) {
        return NGX_DECLINED;
    }

    if (len == 0) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for ( /* void */ ; cl; cl = cl->next) {
        b = cl->buf;
        size = ngx_buf_size(b);

        if (size == 0) {
            continue;
        }

        if (b->in_file) {
            n = ngx_read_file(b->file, p, size, b->file_pos);

            if (n == NGX_ERROR) {
                return NGX_ERROR;
            }

            if ((size_t) n != size) {
                ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                              ngx_read_file_n " read only %z of %uz bytes "
                              "of the request body", n, size);
                return NGX_ERROR;
            }

            p += size;

        } else {
            p = ngx_cpymem(p, b->pos, size);
        }
    }

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * The request header with this name; one given more than once is treated
 * as absent, so that two readers of the request cannot disagree.  "n",
 * unless NULL, tells which: 0 (absent), 1, or 2 (given more than once).
 */

ngx_table_elt_t *
ngx_http_twanon_header_in(ngx_http_request_t *r, const char *lowcase_name,
    ngx_uint_t *n)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    len = ngx_strlen(lowcase_name);
    found = NULL;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != len
            || ngx_strncmp(h[i].lowcase_key, lowcase_name, len) != 0)
        {
            continue;
        }

        if (found) {
            if (n) {
                *n = 2;
            }

            return NULL;
        }

        found = &h[i];
    }

    if (n) {
        *n = found ? 1 : 0;
    }

    return found;
}


ngx_table_elt_t *
ngx_http_twanon_add_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return h;
}


ngx_int_t
ngx_http_twanon_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_length_n = body->len;

    if (body->len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_twanon_add_variables(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * The variables read the main request's context, so that the resolver
 * location can use them too; "data" is the offset of the ngx_str_t there.
 */

ngx_int_t
ngx_http_twanon_variable_str(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_twanon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twanon_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_twanon_variable_set(v, (ngx_str_t *) ((u_char *) ctx + data));

    return NGX_OK;
}


void
ngx_http_twanon_variable_set(ngx_http_variable_value_t *v, ngx_str_t *value)
{
    if (value->len == 0) {
        v->not_found = 1;
        return;
    }

    v->len = value->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = value->data;
}
