/* The file watcher's audit hook, in C (optional; watcher.py has the same hook in Python).
 *
 * Why C: a hook added with sys.addaudithook makes CPython, for every audit
 * event, build the event name as a new string, iterate the hook list, look
 * up __cantrace__ and call a Python function; that alone costs about a tenth
 * of a small file's open-read-close. A hook added with PySys_AddAuditHook
 * is a plain C function called with the event name as a C string, so the
 * common case (an "open" while a cell records, on a thread that is not ours)
 * is a string compare, a thread-local read and a set insertion.
 *
 * Everything else is handed to a Python callable (the "fallback"): the
 * os.chdir / os.rename events, and an "open" whose path cannot go into the
 * set as is (unhashable) or whose flags are not an int. A hook that returns
 * an error aborts the user's operation, so this one never does: whatever
 * fails is cleared and counted.
 *
 * State is process-wide, like the hook itself: it cannot be removed once
 * added. All of it is read and written with the GIL held (audit hooks run
 * with it), and only events of the interpreter that installed the hook are
 * looked at.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *g_reads;     /* set, or callable(path); NULL while no cell records */
static PyObject *g_writes;    /* set, or callable(path) */
static PyObject *g_fallback;  /* callable(event, args) for everything else */
static long g_write_flags;    /* any of these in the open flags: the file is written */
static PyInterpreterState *g_interp;
static Py_tss_t g_quiet = Py_tss_NEEDS_INIT;  /* non-NULL on our own threads */
static Py_ssize_t g_errors;
static int g_installed;

static int
add_path(PyObject *sink, PyObject *path)
{
    if (PySet_CheckExact(sink)) {
        return PySet_Add(sink, path);
    }
    PyObject *result = PyObject_CallOneArg(sink, path);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

static void
call_fallback(const char *event, PyObject *args)
{
    PyObject *fallback = g_fallback;
    if (fallback == NULL) {
        return;
    }
    Py_INCREF(fallback);
    PyObject *name = PyUnicode_FromString(event);
    PyObject *result = name ? PyObject_CallFunctionObjArgs(fallback, name, args, NULL) : NULL;
    Py_XDECREF(name);
    Py_DECREF(fallback);
    if (result == NULL) {
        PyErr_Clear();
        g_errors++;
    }
    else {
        Py_DECREF(result);
    }
}

static int
hook(const char *event, PyObject *args, void *user_data)
{
    (void)user_data;
    /* Every event in the process comes here: leave at once unless it may matter. */
    if (g_reads == NULL || event == NULL || event[0] != 'o') {
        return 0;
    }
    int is_open = strcmp(event, "open") == 0;
    if (!is_open && strcmp(event, "os.chdir") != 0 && strcmp(event, "os.rename") != 0) {
        return 0;
    }
    if (PyInterpreterState_Get() != g_interp || PyThread_tss_get(&g_quiet) != NULL) {
        return 0;
    }
    if (args == NULL || !PyTuple_Check(args)) {
        return 0;
    }
    if (is_open && PyTuple_GET_SIZE(args) >= 3 && PyLong_CheckExact(PyTuple_GET_ITEM(args, 2))) {
        long flags = PyLong_AsLong(PyTuple_GET_ITEM(args, 2));
        if (!(flags == -1 && PyErr_Occurred())) {
            PyObject *sink = (flags & g_write_flags) ? g_writes : g_reads;
            /* Adding may run Python code (a path's __hash__) that replaces the sinks. */
            Py_INCREF(sink);
            int failed = add_path(sink, PyTuple_GET_ITEM(args, 0)) < 0;
            Py_DECREF(sink);
            if (!failed) {
                return 0;
            }
        }
        PyErr_Clear();
    }
    call_fallback(event, args);
    return 0;
}

static PyObject *
audit_install(PyObject *module, PyObject *args)
{
    PyObject *fallback;
    long write_flags;
    if (!PyArg_ParseTuple(args, "lO:install", &write_flags, &fallback)) {
        return NULL;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "fallback must be callable");
        return NULL;
    }
    Py_INCREF(fallback);
    Py_XSETREF(g_fallback, fallback);
    g_write_flags = write_flags;
    if (g_installed) {
        Py_RETURN_FALSE;
    }
    g_interp = PyInterpreterState_Get();
    if (PySys_AddAuditHook(hook, NULL) < 0) {
        return NULL;
    }
    g_installed = 1;
    Py_RETURN_TRUE;
}

static PyObject *
audit_set_sinks(PyObject *module, PyObject *args)
{
    PyObject *reads, *writes;
    if (!PyArg_ParseTuple(args, "OO:set_sinks", &reads, &writes)) {
        return NULL;
    }
    PyObject *old_reads = g_reads, *old_writes = g_writes;
    if (reads == Py_None || writes == Py_None) {
        g_reads = g_writes = NULL;
    }
    else {
        Py_INCREF(reads);
        Py_INCREF(writes);
        g_writes = writes;
        g_reads = reads;
    }
    Py_XDECREF(old_reads);
    Py_XDECREF(old_writes);
    Py_RETURN_NONE;
}

static PyObject *
audit_set_quiet(PyObject *module, PyObject *on)
{
    int truth = PyObject_IsTrue(on);
    if (truth < 0) {
        return NULL;
    }
    if (PyThread_tss_set(&g_quiet, truth ? (void *)1 : NULL) != 0) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

static PyObject *
audit_is_quiet(PyObject *module, PyObject *noargs)
{
    return PyBool_FromLong(PyThread_tss_get(&g_quiet) != NULL);
}

static PyObject *
audit_errors(PyObject *module, PyObject *noargs)
{
    return PyLong_FromSsize_t(g_errors);
}

static PyMethodDef audit_methods[] = {
    {"install", audit_install, METH_VARARGS,
     "install(write_flags, fallback): add the hook (once per process); True if added now."},
    {"set_sinks", audit_set_sinks, METH_VARARGS,
     "set_sinks(reads, writes): where open paths go (sets or callables); None, None: nowhere."},
    {"set_quiet", audit_set_quiet, METH_O, "set_quiet(on): ignore this thread's events, or not."},
    {"is_quiet", audit_is_quiet, METH_NOARGS, "Whether this thread's events are ignored."},
    {"errors", audit_errors, METH_NOARGS, "How many events the fallback failed on."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef audit_module = {
    PyModuleDef_HEAD_INIT, "lineage_magic.files._audit",
    "The file watcher's audit hook in C (see watcher.py).", -1, audit_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__audit(void)
{
    /* Created at import, not at install: threads may be marked quiet before the hook is added. */
    if (!PyThread_tss_is_created(&g_quiet) && PyThread_tss_create(&g_quiet) != 0) {
        PyErr_SetString(PyExc_ImportError, "no thread-specific storage for the audit hook");
        return NULL;
    }
    return PyModule_Create(&audit_module);
}
